// The audit log's hash chain: each event's hash covers its own fields and the previous event's
// hash, so editing, inserting or deleting an event in the middle breaks every later link.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/model.h"

namespace keyfleet::controller {

// Hex SHA-256 over a length-prefixed encoding of sequence, at (unix microseconds), actor,
// action, target, before_json, after_json and prev_hash. `event.hash` is not read.
std::string AuditEventHash(const AuditEvent& event);

struct AuditVerification {
  bool ok = true;
  uint64_t events_checked = 0;
  uint64_t first_bad_sequence = 0;  // 0 when ok
  std::string detail;               // what is wrong with the first bad event
};

// Checks `events`, given in sequence order from the first event ever written: each prev_hash
// equals the previous event's hash ("" for the first) and each hash is recomputed.
// Deleting events from the end cannot be detected by a chain; compare the count with a copy.
AuditVerification VerifyAuditChain(const std::vector<AuditEvent>& events);

}  // namespace keyfleet::controller
