// The audit log's hash chain: each event's hash covers its own fields and the previous event's
// hash, so editing, inserting or deleting an event in the middle breaks every later link.
// Anyone who can write the table can recompute the chain, though; signed checkpoints
// (audit_checkpoint.h, VerifyAuditLog) are what makes such a rewrite visible.
#pragma once

#include <cstdint>
#include <memory>
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

// Streaming form of VerifyAuditChain, for a log too large to hold: Add() each event in sequence
// order from the first event ever written; result() is what VerifyAuditChain returns for the
// events added so far. Checking stops at the first bad event. Holds one hash.
class AuditChainVerifier {
 public:
  void Add(const AuditEvent& event);
  const AuditVerification& result() const { return result_; }

 private:
  AuditVerification result_;
  std::string expected_prev_;
};

// Checks `events`, given in sequence order from the first event ever written: each prev_hash
// equals the previous event's hash ("" for the first) and each hash is recomputed.
// Deleting events from the end cannot be detected by a chain, nor a rewrite of the chain from
// some event on: VerifyAuditLog detects both.
AuditVerification VerifyAuditChain(const std::vector<AuditEvent>& events);

// Streaming form of VerifyAuditLog, for a log too large to hold (one million events and more):
// AddCheckpoint() every checkpoint (in id order), then AddEvent() every event (in sequence
// order, from the first ever written), then Finish() once: the result is exactly what
// VerifyAuditLog returns for those events and checkpoints.
//
// Events are not kept: each is checked against the signed entries as it arrives, so every
// message can still name its action, target, actor and time. What is kept is one compact entry
// per event listed by a valid checkpoint (its sequence, binary hash and checkpoint: 48 bytes),
// 16 bytes per valid checkpoint, and the runs of consecutive sequences (24 bytes per gap): about
// 64 MB for a million events signed one by one.
// Checkpoints come first because a checkpoint may list any events, so an event cannot be judged
// before every signature over it is known.
class AuditLogVerifier {
 public:
  AuditLogVerifier(std::vector<const AuditVerifier*> trusted, uint64_t signed_head);
  ~AuditLogVerifier();
  AuditLogVerifier(const AuditLogVerifier&) = delete;
  AuditLogVerifier& operator=(const AuditLogVerifier&) = delete;

  // Not after the first AddEvent().
  void AddCheckpoint(const AuditCheckpoint& checkpoint);
  void AddEvent(const AuditEvent& event);
  AuditVerification Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

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
// verification per checkpoint. A wrapper over AuditLogVerifier.
AuditVerification VerifyAuditLog(const std::vector<AuditEvent>& events,
                                 const std::vector<AuditCheckpoint>& checkpoints,
                                 const std::vector<const AuditVerifier*>& trusted,
                                 uint64_t signed_head);

}  // namespace keyfleet::controller
