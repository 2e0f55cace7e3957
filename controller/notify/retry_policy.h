// When a failed notification delivery is tried again, and when it is given up (dead-lettered).
// Pure functions of the policy, the attempt count and the time: the outbox dispatcher passes
// its clock's now.
#pragma once

#include "absl/time/time.h"

namespace keyfleet::controller::notify {

// Limits the config enforces (notify_config.h). A receiver down for longer than the retries
// last (100 attempts a day apart at most) is an outage for someone to look at, with the
// dead letters to replay; backoffs under a second would hammer a receiver that is struggling.
inline constexpr int kMinRetryAttempts = 1;
inline constexpr int kMaxRetryAttempts = 100;
inline constexpr absl::Duration kMinBackoff = absl::Seconds(1);
inline constexpr absl::Duration kMaxBackoffLimit = absl::Hours(24);

struct RetryPolicy {
  int max_attempts = 8;  // attempts in all, the first included; then the delivery is dead
  absl::Duration initial_backoff = absl::Seconds(30);  // after the first failure; doubled each time
  absl::Duration max_backoff = absl::Hours(1);         // the doubling stops here
};

// When to try again after `attempts_made` failed attempts: now + initial_backoff ×
// 2^(attempts_made − 1), at most now + max_backoff. With attempts_made <= 0 (nothing failed
// yet) it is `now`. Never overflows, whatever the count.
absl::Time NextAttemptAt(const RetryPolicy& policy, int attempts_made, absl::Time now);

// Whether a delivery that has failed `attempts_made` times (retryably) is to be dead-lettered
// instead of tried again: attempts_made >= max_attempts.
bool ShouldDeadLetter(const RetryPolicy& policy, int attempts_made);

}  // namespace keyfleet::controller::notify
