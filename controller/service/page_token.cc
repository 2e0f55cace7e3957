#include "controller/service/page_token.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/host_names.h"
#include "controller/inventory_validation.h"

namespace keyfleet::controller {
namespace {

// A join token's or credential's id (secret_token.h): 16 lower-case hex digits.
constexpr size_t kIdDigits = 16;

absl::Status BadToken(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page_token is not a ", what,
      " page token from this controller: give back next_page_token unchanged, or none for the "
      "first page"));
}

bool IsLowerHexId(absl::string_view s) {
  return s.size() == kIdDigits && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

// PREFIX and a name that `valid` accepts.
absl::StatusOr<std::string> ParseNameToken(absl::string_view token, absl::string_view prefix,
                                           absl::string_view what,
                                           absl::Status (*valid)(absl::string_view)) {
  if (token.empty()) return std::string();
  if (!absl::ConsumePrefix(&token, prefix) || !valid(token).ok()) return BadToken(what);
  return std::string(token);
}

std::string CreationToken(absl::string_view prefix, const CreationCursor& after) {
  return absl::StrCat(prefix, after.created_us, ":", after.id);
}

// PREFIX, microseconds since 1970, ':' and a 16-hex-digit id.
absl::StatusOr<CreationCursor> ParseCreationToken(absl::string_view token, absl::string_view prefix,
                                                  absl::string_view what) {
  if (token.empty()) return CreationCursor();
  const absl::string_view whole = token;
  CreationCursor cursor;
  if (!absl::ConsumePrefix(&token, prefix)) return BadToken(what);
  const size_t colon = token.find(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(token.substr(0, colon), &cursor.created_us) ||
      !IsLowerHexId(token.substr(colon + 1))) {
    return BadToken(what);
  }
  cursor.id = std::string(token.substr(colon + 1));
  // Only the form CreationToken makes: not "01", "+1" or " 1", which SimpleAtoi takes too.
  if (CreationToken(prefix, cursor) != whole || cursor.first()) return BadToken(what);
  return cursor;
}

}  // namespace

absl::StatusOr<uint32_t> PageSize(uint32_t requested, uint32_t fallback) {
  if (requested == 0) return fallback;
  if (requested > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size ", requested, " is too large: 1 to ", kMaxPageSize));
  }
  return requested;
}

std::string AuditPageToken(uint64_t after_sequence) {
  return absl::StrCat("a", after_sequence);
}

absl::StatusOr<uint64_t> ParseAuditPageToken(absl::string_view token) {
  if (token.empty()) return 0;
  uint64_t after = 0;
  // Only the form AuditPageToken makes: not "a01", "a+1" or "a 1", which SimpleAtoi takes too.
  if (!absl::StartsWith(token, "a") || !absl::SimpleAtoi(token.substr(1), &after) || after == 0 ||
      AuditPageToken(after) != token) {
    return BadToken("audit");
  }
  return after;
}

std::string NewestAuditPageToken(uint64_t before_sequence) {
  return absl::StrCat("b", before_sequence);
}

absl::StatusOr<uint64_t> ParseNewestAuditPageToken(absl::string_view token) {
  if (token.empty()) return 0;
  uint64_t before = 0;
  if (!absl::StartsWith(token, "b") || !absl::SimpleAtoi(token.substr(1), &before) || before == 0 ||
      NewestAuditPageToken(before) != token) {
    return BadToken("newest-first audit");
  }
  return before;
}

std::string KeyPageToken(absl::string_view after_fingerprint) {
  return absl::StrCat("k:", after_fingerprint);
}

absl::StatusOr<std::string> ParseKeyPageToken(absl::string_view token) {
  if (token.empty()) return std::string();
  // A fingerprint: "SHA256:" and 43 base64 characters.
  if (!absl::ConsumePrefix(&token, "k:") || !absl::StartsWith(token, "SHA256:") ||
      token.size() != 50 || !std::all_of(token.begin() + 7, token.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
      })) {
    return BadToken("key");
  }
  return std::string(token);
}

std::string PrincipalPageToken(absl::string_view after_name) {
  return absl::StrCat("p:", after_name);
}

absl::StatusOr<std::string> ParsePrincipalPageToken(absl::string_view token) {
  return ParseNameToken(token, "p:", "principal", ValidatePrincipalName);
}

std::string HostPageToken(absl::string_view after_hostname) {
  return absl::StrCat("h:", after_hostname);
}

absl::StatusOr<std::string> ParseHostPageToken(absl::string_view token) {
  return ParseNameToken(token, "h:", "host", ValidateHostname);
}

std::string GrantPageToken(int64_t after_id) {
  return absl::StrCat("g", after_id);
}

absl::StatusOr<int64_t> ParseGrantPageToken(absl::string_view token) {
  if (token.empty()) return 0;
  int64_t after = 0;
  // Only the form GrantPageToken makes: not "g01", "g+1" or "g 1", which SimpleAtoi takes too.
  if (!absl::StartsWith(token, "g") || !absl::SimpleAtoi(token.substr(1), &after) || after <= 0 ||
      GrantPageToken(after) != token) {
    return BadToken("grant");
  }
  return after;
}

std::string JoinTokenPageToken(const CreationCursor& after) {
  return CreationToken("j:", after);
}

absl::StatusOr<CreationCursor> ParseJoinTokenPageToken(absl::string_view token) {
  return ParseCreationToken(token, "j:", "join token");
}

std::string CredentialPageToken(const CreationCursor& after) {
  return CreationToken("c:", after);
}

absl::StatusOr<CreationCursor> ParseCredentialPageToken(absl::string_view token) {
  return ParseCreationToken(token, "c:", "credential");
}

}  // namespace keyfleet::controller
