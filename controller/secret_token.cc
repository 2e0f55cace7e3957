#include "controller/secret_token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace keyfleet::controller {
namespace {

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

absl::StatusOr<SecretTokenParts> GenerateSecretToken(const SecretTokenFormat& format) {
  absl::StatusOr<std::string> id = RandomHex(kIdHex / 2);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> secret = RandomHex(kSecretHex / 2);
  if (!secret.ok()) return secret.status();
  SecretTokenParts parts;
  parts.text = absl::StrCat(format.prefix, *id, "_", *secret);
  parts.id = *id;
  parts.secret_hash = Sha256Hex(*secret);
  return parts;
}

absl::StatusOr<SecretTokenParts> ParseSecretToken(const SecretTokenFormat& format,
                                                  absl::string_view text) {
  const absl::string_view prefix = format.prefix;
  const size_t expected = prefix.size() + kIdHex + 1 + kSecretHex;
  if (text.size() != expected || !absl::StartsWith(text, prefix) ||
      text[prefix.size() + kIdHex] != '_') {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed ", format.noun, ": expected ", prefix, " followed by ", kIdHex, " and ",
        kSecretHex, " lowercase hex digits separated by '_' (as ", format.origin, " prints it)"));
  }
  absl::string_view id = text.substr(prefix.size(), kIdHex);
  absl::string_view secret = text.substr(prefix.size() + kIdHex + 1);
  if (!IsLowerHex(id) || !IsLowerHex(secret)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed ", format.noun, ": the id and secret must be lowercase hex digits"));
  }
  SecretTokenParts parts;
  parts.id = std::string(id);
  parts.secret_hash = Sha256Hex(secret);
  return parts;
}

bool SecretHashEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keyfleet::controller
