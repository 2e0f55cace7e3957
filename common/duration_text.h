// Durations as people type them in flags and config: "30d", "12h", "15m", "90s".
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet {

// A positive or zero whole number followed by exactly one unit: s, m, h or d (days). No signs,
// spaces, fractions or combined units. INVALID_ARGUMENT saying what is allowed otherwise.
absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text);

// The inverse for whole units: "365d", "12h", "15m", "90s"; seconds otherwise.
std::string FormatDurationText(absl::Duration d);

// For logs and messages: rounded to a tenth of a second below 10 s, to the second above
// ("1.7s", "12s", "2m30s"), never "1.74355775925s".
std::string FormatDurationForHumans(absl::Duration d);

}  // namespace keyfleet
