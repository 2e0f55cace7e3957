// The audit log's hash chain: each event's hash covers its own fields and the previous event's
// hash, so editing, inserting or deleting an event in the middle breaks every later link.
// Anyone who can write the table can recompute the chain, though; signed checkpoints
// (audit_checkpoint.h, VerifyAuditLog) are what makes such a rewrite visible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/audit_checkpoint.h"
#include "controller/model.h"

namespace keyfleet::controller {

// Hex SHA-256 over a length-prefixed encoding of sequence, at (unix microseconds), actor,
// action, target, before_json, after_json and prev_hash. `event.hash` is not read.
std::string AuditEventHash(const AuditEvent& event);

class AuditVerifier;  // audit_signer.h

struct AuditVerification {
  bool ok = true;
  // Events before the first bad one (all of them when ok).
  uint64_t events_checked = 0;
  // Checkpoints whose signature verified under a trusted key (VerifyAuditLog only).
  uint64_t checkpoints_checked = 0;
  uint64_t first_bad_sequence = 0;  // 0 when ok
  std::string detail;               // what is wrong with the first bad event, for an operator
};

// Checks `events`, given in sequence order from the first event ever written: each prev_hash
// equals the previous event's hash ("" for the first) and each hash is recomputed.
// Deleting events from the end cannot be detected by a chain, nor a rewrite of the chain from
// some event on: VerifyAuditLog detects both.
AuditVerification VerifyAuditChain(const std::vector<AuditEvent>& events);

// Verifies `events` as VerifyAuditChain does (and that their sequences strictly ascend), and
// against the signed `checkpoints`:
//   - every checkpoint's signature verifies under the trusted key its key_id names (the current
//     audit key, and the public keys of earlier ones after a rotation);
//   - every event a checkpoint lists exists with exactly the signed hash;
//   - every event is listed by some valid checkpoint;
//   - `signed_head`, the highest sequence this running controller signed itself (0 if it does
//     not know), is not beyond the last event: that catches events deleted from the end
//     together with their checkpoints.
// Gaps between sequences (rolled-back transactions consume them) are not problems. When several
// problems exist, first_bad_sequence is the earliest event concerned, and detail says what is
// wrong with it and what that means; a checkpoint that does not verify is reported at the first
// event it lists. Linear in the number of events and listed entries, plus one ECDSA
// verification per checkpoint.
AuditVerification VerifyAuditLog(const std::vector<AuditEvent>& events,
                                 const std::vector<AuditCheckpoint>& checkpoints,
                                 const std::vector<const AuditVerifier*>& trusted,
                                 uint64_t signed_head);

}  // namespace keyfleet::controller
