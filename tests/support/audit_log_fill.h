// A large, valid audit log written straight into an empty PostgreSQL database (issue 15): chained
// events with key, grant, revocation and enrollment records of realistic size, the sequence gaps
// rolled-back transactions leave, and checkpoints signed by a real audit key, bulk-loaded with
// COPY. Shared by the ctest test (controller/tests/audit_scale_test.cc) and the full-size
// benchmark (tests/bench/audit_scale.cc). Also the process's memory figures both report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/audit_signer.h"
#include "controller/model.h"

namespace keyfleet::testing {

struct AuditFillOptions {
  uint64_t events = 100000;
  // Events per signed checkpoint: the controller signs each mutation's events as one, and most
  // mutations append one event. 0: no checkpoints.
  size_t events_per_checkpoint = 1;
  // Every gap_every-th sequence number is skipped, as a rolled-back mutation leaves it; 0: none.
  uint64_t gap_every = 9973;
  const controller::AuditSigner* signer = nullptr;       // required when checkpoints are written
  absl::Time start = absl::FromUnixSeconds(1796040000);  // event n is at start + n × 10 ms
};

struct AuditFillResult {
  uint64_t events = 0;
  uint64_t checkpoints = 0;
  uint64_t last_sequence = 0;
  uint64_t payload_bytes = 0;  // actor, action, target, before_json and after_json together
};

// The event numbered `sequence`, chained to `prev_hash`, as FillAuditLog writes it.
controller::AuditEvent SyntheticAuditEvent(uint64_t sequence, absl::Time at,
                                           const std::string& prev_hash);

// Writes the log into the (migrated, empty) database at `url` in one transaction per table and
// moves the audit sequence past it, so that the controller appends after it.
absl::StatusOr<AuditFillResult> FillAuditLog(const std::string& url,
                                             const AuditFillOptions& options);

// This process's VmRSS and VmHWM (peak RSS) in KiB; -1 if unreadable.
long CurrentRssKiB();
long PeakRssKiB();
// Resets VmHWM to the current RSS (/proc/self/clear_refs), so that the next PeakRssKiB() is
// the peak of what runs in between. False if the kernel refused.
bool ResetPeakRss();

}  // namespace keyfleet::testing
