#include "controller/service/page_token.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace keyfleet::controller {
namespace {

absl::Status BadToken(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page_token is not a ", what,
      " page token from this controller: give back next_page_token unchanged, or none for the "
      "first page"));
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
  if (!absl::ConsumePrefix(&token, "a") || token.empty() || token.size() > 20 ||
      !std::all_of(token.begin(), token.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(token, &after) || after == 0) {
    return BadToken("audit");
  }
  return after;
}

std::string KeyPageToken(absl::string_view after_fingerprint) {
  return absl::StrCat("k:", after_fingerprint);
}

absl::StatusOr<std::string> ParseKeyPageToken(absl::string_view token) {
  if (token.empty()) return std::string();
  // A fingerprint: "SHA256:" and 43 base64 characters.
  if (!absl::ConsumePrefix(&token, "k:") || !absl::StartsWith(token, "SHA256:") ||
      token.size() != 50 ||
      !std::all_of(token.begin() + 7, token.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
      })) {
    return BadToken("key");
  }
  return std::string(token);
}

}  // namespace keyfleet::controller
