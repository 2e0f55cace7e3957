#include "controller/notify/retry_policy.h"

#include <algorithm>

namespace keyfleet::controller::notify {

absl::Time NextAttemptAt(const RetryPolicy& policy, int attempts_made, absl::Time now) {
  if (attempts_made <= 0) return now;
  const absl::Duration cap = std::max(policy.max_backoff, absl::ZeroDuration());
  absl::Duration backoff = std::clamp(policy.initial_backoff, absl::ZeroDuration(), cap);
  if (backoff == absl::ZeroDuration()) return now;
  // Doubling stops at the cap, so a large count costs at most ~64 steps and never overflows.
  for (int i = 1; i < attempts_made && backoff < cap; ++i) backoff = std::min(backoff * 2, cap);
  return now + backoff;
}

bool ShouldDeadLetter(const RetryPolicy& policy, int attempts_made) {
  return attempts_made >= policy.max_attempts;
}

}  // namespace keyfleet::controller::notify
