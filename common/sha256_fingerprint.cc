#include "common/sha256_fingerprint.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base64.h"
#include "common/revocation_limits.h"

namespace keyfleet {

namespace {
constexpr absl::string_view kPrefix = "SHA256:";
constexpr size_t kSymbols = 43;  // 32 bytes, unpadded
}  // namespace

absl::StatusOr<std::string> Sha256FingerprintDigest(absl::string_view text) {
  if (!absl::StartsWith(text, kPrefix) || text.size() != kPrefix.size() + kSymbols) {
    return absl::InvalidArgumentError(
        "not a SHA256 fingerprint: one is \"SHA256:\" followed by 43 base64 symbols, as "
        "ssh-keygen -l prints it");
  }
  absl::StatusOr<std::string> digest =
      Base64DecodeStrict(absl::StrCat(text.substr(kPrefix.size()), "="));
  if (!digest.ok() || digest->size() != kSha256DigestBytes) {
    return absl::InvalidArgumentError(
        "not a SHA256 fingerprint: the 43 symbols after \"SHA256:\" must be standard base64 "
        "(A-Z a-z 0-9 + /) of 32 bytes");
  }
  return *std::move(digest);
}

std::string Sha256FingerprintText(absl::string_view digest) {
  return absl::StrCat(kPrefix, Base64EncodeUnpadded(digest));
}

}  // namespace keyfleet
