#include "common/runtime_setup.h"

#include "absl/synchronization/mutex.h"

namespace keyfleet {

void DisableAbslDebugChecks() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace keyfleet
