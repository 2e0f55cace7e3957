// The bounds of everything a request may carry, in one table, checked in one place.
//
// The table (field_limits.cc) has a row for every string and bytes field (its size in
// bytes), every repeated field and map (its number of entries) and every number, enum,
// Timestamp and Duration (its range, or who checks it) of every request message of the admin,
// agent and enrollment services, nested messages included. The unit test fails when a field
// has no row, so a field cannot be added without a limit, and it keeps the README's
// "Size limits" table equal to this one.
//
// A row may be looser than the handler's precise rule (a principal name's alphabet, a key
// line's grammar), never tighter than what the handler accepts; where a constant exists next to
// a parser, the row uses it.
#pragma once

#include <google/protobuf/message.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/report_limits.h"  // kMaxReportPathBytes, kMaxReportTextBytes, drift items
#include "common/sha256.h"
#include "controller/desired_state.h"
#include "controller/inventory_validation.h"

namespace keyfleet::controller {

// Limits with no constant elsewhere, and why each is what it is.
//
// "SHA256:" + 43 base64 characters is 50 bytes; the MD5 form, 51.
inline constexpr size_t kMaxFingerprintBytes = 64;
// A word from a fixed list: a key type name (the longest, a security-key certificate type, is 43
// bytes), a generated key's type, a notification state, a key file's name.
inline constexpr size_t kMaxKeywordBytes = 64;
// An uploaded public key line: key material that can still reach a host (its authorized_keys
// line, options and owner comment included, is at most 8 KiB) plus the uploaded comment.
inline constexpr size_t kMaxPublicKeyLineBytes = kMaxAuthorizedKeysLineBytes + kMaxKeyCommentBytes;
// Keys in one AddKeys request. Above what 4 MiB (gRPC's receive limit) can hold of the shortest
// key line (ed25519, 80 bytes): the bulk import of 30,000 keys fits with room.
inline constexpr size_t kMaxKeysPerAddRequest = 65536;
// A grant id is a decimal int64 (at most 20 characters).
inline constexpr size_t kMaxGrantIdBytes = 32;
// A secret token's text ("kfjt_" or "kfat_", 16 hex digits, "_", 64 hex digits: 86 bytes) or
// its 16-digit id.
inline constexpr size_t kMaxTokenTextBytes = 128;
// A page token (page_token.h): the longest, "h:" and a hostname, is 255 bytes.
inline constexpr size_t kMaxPageTokenBytes = 256;
// Hosts listed per state by FleetStatus, and entries answered by KeyReach: a page's worth
// (the counts are always whole).
inline constexpr uint32_t kMaxFleetListLimit = 1000;
inline constexpr uint32_t kMaxReachLimit = 10000;
// A database epoch: 16 lower-case hex digits (migration 0007), or "" from agents before epochs.
inline constexpr size_t kMaxEpochBytes = 16;
// A hex SHA-256 digest.
inline constexpr size_t kMaxDigestBytes = 2 * kSha256Bytes;
// Accounts in one report: an agent reports only the accounts of its desired state, and a
// desired state of kMaxDesiredStateBytes holds at most this many.
inline constexpr size_t kMaxReportAccounts =
    kMaxDesiredStateBytes / kDesiredStateAccountOverheadBytes;
// Observed lines of one account: each costs the agent at least 8 bytes of its
// kMaxObservedReportBytes budget (node-agent/observed_keys.cc).
inline constexpr size_t kMaxObservedLines = kMaxObservedReportBytes / 8;
// The host's /etc/ssh/ssh_host_*_key.pub files (a handful on a real host).
inline constexpr size_t kMaxHostKeyFingerprints = 256;
// A policy's allowed key types: every type keyfleet knows (fewer than 20), with room.
inline constexpr size_t kMaxPolicyKeyTypes = 64;
// SetPolicy's `inherit`: two kinds exist; a few repeats are harmless.
inline constexpr size_t kMaxInheritKinds = 8;
// An agent reports an expiry-time= read in the host's time zone: any minute of the years
// 1970 to 9999 there, so up to a day either side of the UTC range.
inline constexpr int64_t kObservedExpirySlackSeconds = 86400;

// What is checked of a field beyond sizes and counts.
enum class ValueRule : uint8_t {
  kNone,       // strings, bytes, repeated messages and maps: nothing more
  kRange,      // integers and enums: min to max; Timestamp and Duration: seconds in min to max
  kByHandler,  // a number or time its handler checks (the note says how); nothing here
  kAnyValue,   // a number every value of which means something (the note says why)
};

struct FieldLimit {
  absl::string_view field;  // full name: "keyfleet.v1.AddPrincipalRequest.name"
  size_t max_bytes = 0;     // string and bytes fields: each value (each element if repeated)
  size_t max_count = 0;     // repeated fields and maps: entries
  ValueRule value = ValueRule::kNone;
  int64_t min = 0;         // kRange
  int64_t max = 0;         // kRange
  absl::string_view from;  // where the limit comes from, for the README
};

// The table, grouped by proto file.
absl::Span<const FieldLimit> FieldLimits();

// The row of a field (by full name), or null.
const FieldLimit* FindFieldLimit(absl::string_view full_name);

// Walks `request` (nested messages, each element of repeated fields and maps) and checks every
// field set against its row: sizes, entry counts, UTF-8 of strings, ranges. INVALID_ARGUMENT
// naming the first field that fails by its path in the request ("grant.hosts.labels.key",
// "report.observed[3].lines[0].comment"), with its size and the limit, the byte offset of bad
// UTF-8, or the value and the allowed range of a number; never the text itself. INTERNAL for a
// message type no service takes, or a field without a row (programming errors). Copies no text;
// a report of 20 accounts and 100 key lines takes some 30 us (field_limits_check.cc).
absl::Status CheckFieldLimits(const google::protobuf::Message& request);

}  // namespace keyfleet::controller
