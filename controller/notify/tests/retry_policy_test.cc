// The retry schedule: exponential from initial_backoff, capped at max_backoff, and when a
// delivery is dead-lettered.
#include "controller/notify/retry_policy.h"

#include <gtest/gtest.h>

#include <climits>

namespace keyfleet::controller::notify {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST(RetryPolicy, NextAttemptDoublesUntilTheCap) {
  const RetryPolicy policy;  // 30s, doubled, at most 1h
  const std::pair<int, absl::Duration> table[] = {
      {-1, absl::ZeroDuration()}, {0, absl::ZeroDuration()}, {1, absl::Seconds(30)},
      {2, absl::Seconds(60)},     {3, absl::Minutes(2)},     {4, absl::Minutes(4)},
      {5, absl::Minutes(8)},      {6, absl::Minutes(16)},    {7, absl::Minutes(32)},
      {8, absl::Hours(1)},  // 64m capped
      {9, absl::Hours(1)},        {64, absl::Hours(1)},      {1000, absl::Hours(1)},
      {INT_MAX, absl::Hours(1)},
  };
  for (const auto& [attempts, delay] : table) {
    EXPECT_EQ(NextAttemptAt(policy, attempts, kNow), kNow + delay) << attempts << " attempts";
  }
}

TEST(RetryPolicy, OddPoliciesStayWithinTheirBounds) {
  const struct {
    RetryPolicy policy;
    int attempts;
    absl::Duration delay;
  } table[] = {
      {{8, absl::Minutes(5), absl::Minutes(5)}, 1, absl::Minutes(5)},
      {{8, absl::Minutes(5), absl::Minutes(5)}, 50, absl::Minutes(5)},
      {{8, absl::Seconds(1), absl::Hours(24)}, 17, absl::Seconds(65536)},
      {{8, absl::Seconds(1), absl::Hours(24)}, 18, absl::Hours(24)},
      // Not allowed by the config, but the function must not misbehave on them.
      {{8, absl::Hours(2), absl::Hours(1)}, 1, absl::Hours(1)},
      {{8, absl::ZeroDuration(), absl::Hours(1)}, INT_MAX, absl::ZeroDuration()},
      {{8, absl::Seconds(-5), absl::Seconds(-1)}, 3, absl::ZeroDuration()},
      {{8, absl::InfiniteDuration(), absl::InfiniteDuration()}, 3, absl::InfiniteDuration()},
  };
  for (const auto& c : table) {
    EXPECT_EQ(NextAttemptAt(c.policy, c.attempts, kNow), kNow + c.delay)
        << c.policy.initial_backoff << "/" << c.policy.max_backoff << " after " << c.attempts;
  }
}

TEST(RetryPolicy, DeadLetterWhenTheAttemptsAreUsedUp) {
  const struct {
    int max_attempts;
    int attempts_made;
    bool dead;
  } table[] = {
      {8, 0, false}, {8, 1, false}, {8, 7, false},    {8, 8, true},     {8, 9, true},
      {1, 0, false}, {1, 1, true},  {100, 99, false}, {100, 100, true},
  };
  for (const auto& c : table) {
    RetryPolicy policy;
    policy.max_attempts = c.max_attempts;
    EXPECT_EQ(ShouldDeadLetter(policy, c.attempts_made), c.dead)
        << c.attempts_made << " of " << c.max_attempts;
  }
}

}  // namespace
}  // namespace keyfleet::controller::notify
