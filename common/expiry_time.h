// The time format of the authorized_keys `expiry-time=` option (OpenSSH parse_absolute_time).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet {

struct ExpiryTime {
  absl::CivilSecond civil;
  bool utc = false;  // a trailing "Z" or "UTC"; otherwise sshd reads it in its local time zone
};

// Accepts YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by "Z" or "UTC" (any
// case), with every field in range (no 31 April, no second 60) and the moment after 1970-01-01
// 00:00:00 (sshd refuses an expiry of 0). INVALID_ARGUMENT naming the problem otherwise.
absl::StatusOr<ExpiryTime> ParseExpiryTime(absl::string_view text);

// The instant sshd would compute: UTC when `utc`, else in `local`.
absl::Time ExpiryInstant(const ExpiryTime& expiry, absl::TimeZone local);

// "YYYYMMDDHHMMZ" in UTC, rounded down to the minute so sshd never accepts a key past `t`.
std::string FormatExpiryTime(absl::Time t);

}  // namespace keyfleet
