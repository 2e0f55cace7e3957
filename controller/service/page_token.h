// Page tokens of the list RPCs: opaque to clients, strict here. An audit page continues after a
// sequence number ("a" then the number), a key page after a fingerprint ("k:" then it). A
// token that is not one this controller makes is INVALID_ARGUMENT, never a silent restart.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::controller {

inline constexpr uint32_t kMaxPageSize = 10000;

// `requested` (0: `fallback`), INVALID_ARGUMENT above kMaxPageSize.
absl::StatusOr<uint32_t> PageSize(uint32_t requested, uint32_t fallback);

std::string AuditPageToken(uint64_t after_sequence);
// 0 for "".
absl::StatusOr<uint64_t> ParseAuditPageToken(absl::string_view token);

std::string KeyPageToken(absl::string_view after_fingerprint);
// "" for "".
absl::StatusOr<std::string> ParseKeyPageToken(absl::string_view token);

}  // namespace keyfleet::controller
