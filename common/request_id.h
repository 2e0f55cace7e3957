// The idempotency key of an admin mutation: the CLI sends one per mutation (the same one on each
// retry) in this metadata entry, and the controller answers a replay with the first outcome.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

inline constexpr char kRequestIdMetadata[] = "x-keyfleet-request-id";
// Set (to "1") in the trailing metadata of an answer that is a replay of the first outcome.
inline constexpr char kRequestReplayedMetadata[] = "x-keyfleet-replayed";
inline constexpr size_t kMinRequestIdLength = 8;
inline constexpr size_t kMaxRequestIdLength = 64;

// 8 to 64 of A-Z a-z 0-9 . _ - ; INVALID_ARGUMENT saying so otherwise (never echoing more than
// a short prefix of what was given).
absl::Status ValidateRequestId(absl::string_view id);

// 32 lower-case hex digits from the system's CSPRNG; INTERNAL if it fails.
absl::StatusOr<std::string> NewRequestId();

}  // namespace keyfleet
