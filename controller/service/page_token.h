// Page tokens of the list RPCs: opaque to clients, strict here. A page continues after the
// previous page's last item, which the token names by the list's sort key:
//   audit events  "a" and a sequence number
//   keys          "k:" and a fingerprint
//   principals    "p:" and a name
//   hosts         "h:" and a hostname
//   grants        "g" and a grant id
//   join tokens   "j:" and a CreationCursor: microseconds since 1970, ":", the 16-hex-digit id
//   credentials   "c:" and a CreationCursor
// A token is accepted only in the exact form this controller makes; any other is
// INVALID_ARGUMENT naming page_token, never a silent restart from the first page.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet::controller {

inline constexpr uint32_t kMaxPageSize = 10000;

// Page sizes when a request gives none (page_size 0). Keys, principals and grants, copied out of
// the fleet view for every page, page in larger steps; hosts (with their drift) and audit events
// (with before and after) are the largest items; join tokens and credentials page as the audit
// log does.
inline constexpr uint32_t kAuditPageSize = 1000;
inline constexpr uint32_t kKeyPageSize = 5000;
inline constexpr uint32_t kPrincipalPageSize = 5000;
inline constexpr uint32_t kGrantPageSize = 5000;
inline constexpr uint32_t kHostPageSize = 1000;
inline constexpr uint32_t kJoinTokenPageSize = 1000;
inline constexpr uint32_t kCredentialPageSize = 1000;

// `requested` (0: `fallback`), INVALID_ARGUMENT above kMaxPageSize.
absl::StatusOr<uint32_t> PageSize(uint32_t requested, uint32_t fallback);

std::string AuditPageToken(uint64_t after_sequence);
// 0 for "".
absl::StatusOr<uint64_t> ParseAuditPageToken(absl::string_view token);

// ListAudit with newest_first: the next page holds events before the sequence.
std::string NewestAuditPageToken(uint64_t before_sequence);
// 0 for "" (the newest events).
absl::StatusOr<uint64_t> ParseNewestAuditPageToken(absl::string_view token);

std::string KeyPageToken(absl::string_view after_fingerprint);
// "" for "".
absl::StatusOr<std::string> ParseKeyPageToken(absl::string_view token);

std::string PrincipalPageToken(absl::string_view after_name);
// "" for "" (every name sorts after it).
absl::StatusOr<std::string> ParsePrincipalPageToken(absl::string_view token);

std::string HostPageToken(absl::string_view after_hostname);
// "" for "".
absl::StatusOr<std::string> ParseHostPageToken(absl::string_view token);

std::string GrantPageToken(int64_t after_id);
// 0 for "" (grant ids start at 1).
absl::StatusOr<int64_t> ParseGrantPageToken(absl::string_view token);

// Where a list in creation order (join tokens, credentials) resumes: after the item created at
// `created_us` with `id`. Creation times can tie; the id settles the order, so the pair is unique
// and never changes.
struct CreationCursor {
  static constexpr int64_t kFirst = std::numeric_limits<int64_t>::min();
  int64_t created_us = kFirst;  // kFirst: before every item
  std::string id;

  static CreationCursor Of(absl::Time created_at, std::string id) {
    return {absl::ToUnixMicros(created_at), std::move(id)};
  }
  bool first() const { return created_us == kFirst; }
  friend bool operator<(const CreationCursor& a, const CreationCursor& b) {
    return std::tie(a.created_us, a.id) < std::tie(b.created_us, b.id);
  }
};

std::string JoinTokenPageToken(const CreationCursor& after);
// CreationCursor() (from the first) for "".
absl::StatusOr<CreationCursor> ParseJoinTokenPageToken(absl::string_view token);

std::string CredentialPageToken(const CreationCursor& after);
// CreationCursor() (from the first) for "".
absl::StatusOr<CreationCursor> ParseCredentialPageToken(absl::string_view token);

}  // namespace keyfleet::controller
