// The highest audit sequence a controller has signed, kept beside the audit key and outside
// PostgreSQL: someone who deletes the newest events together with their signed checkpoints is
// still caught after a restart, and by every replica sharing the key directory (each records its
// own file, "audit-head.REPLICA", and all are read).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace keyfleet::controller {

inline constexpr char kAuditHighWaterPrefix[] = "audit-head.";

class AuditHighWater {
 public:
  // `replica` names this controller's file (letters, digits, '.', '-'; others become '-').
  AuditHighWater(std::string dir, const std::string& replica);

  // The highest sequence recorded by any replica in the directory; 0 when none. A file that is
  // unsafe (others may write it) or unreadable is an error naming it.
  absl::StatusOr<uint64_t> Load() const;
  // Records `sequence` (0600, atomically) when it is above what this replica recorded.
  absl::Status Record(uint64_t sequence);
  uint64_t recorded() const { return recorded_; }

 private:
  std::string dir_;
  std::string file_;
  uint64_t recorded_ = 0;
};

}  // namespace keyfleet::controller
