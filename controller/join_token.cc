#include "controller/join_token.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace keyfleet::controller {
namespace {

constexpr absl::string_view kPrefix = "kfjt_";
constexpr size_t kIdHex = 16;
constexpr size_t kSecretHex = 64;

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return absl::InternalError("the system's random number generator failed");
  }
  return absl::BytesToHexString(raw);
}

}  // namespace

absl::StatusOr<JoinTokenParts> GenerateJoinToken() {
  absl::StatusOr<std::string> id = RandomHex(kIdHex / 2);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> secret = RandomHex(kSecretHex / 2);
  if (!secret.ok()) return secret.status();
  JoinTokenParts parts;
  parts.text = absl::StrCat(kPrefix, *id, "_", *secret);
  parts.id = *id;
  parts.secret_hash = Sha256Hex(*secret);
  return parts;
}

absl::StatusOr<JoinTokenParts> ParseJoinToken(absl::string_view text) {
  const size_t expected = kPrefix.size() + kIdHex + 1 + kSecretHex;
  if (text.size() != expected || !absl::StartsWith(text, kPrefix) ||
      text[kPrefix.size() + kIdHex] != '_') {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed join token: expected kfjt_ followed by ", kIdHex, " and ", kSecretHex,
        " lowercase hex digits separated by '_' (as `keyfleet host token create` prints it)"));
  }
  absl::string_view id = text.substr(kPrefix.size(), kIdHex);
  absl::string_view secret = text.substr(kPrefix.size() + kIdHex + 1);
  if (!IsLowerHex(id) || !IsLowerHex(secret)) {
    return absl::UnauthenticatedError(
        "malformed join token: the id and secret must be lowercase hex digits");
  }
  JoinTokenParts parts;
  parts.id = std::string(id);
  parts.secret_hash = Sha256Hex(secret);
  return parts;
}

}  // namespace keyfleet::controller
