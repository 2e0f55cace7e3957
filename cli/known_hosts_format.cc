#include "cli/known_hosts_format.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "common/base64.h"
#include "common/ssh_public_key.h"

namespace keyfleet::cli {

std::string KnownHostsName(absl::string_view host, uint16_t port) {
  if (port == kDefaultSshPort) return std::string(host);
  return absl::StrCat("[", host, "]:", port);
}

std::string HashKnownHostsName(absl::string_view name, absl::string_view salt) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &mac_len);
  return absl::StrCat("|1|", Base64Encode(salt), "|",
                      Base64Encode(absl::string_view(reinterpret_cast<const char*>(mac), mac_len)));
}

absl::StatusOr<std::string> RandomKnownHostsSalt() {
  std::string salt(kKnownHostsSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
      1) {
    return absl::InternalError("no random bytes for a known_hosts salt (OpenSSL RAND_bytes)");
  }
  return salt;
}

absl::StatusOr<std::string> KnownHostsLine(absl::string_view name, absl::string_view public_key) {
  absl::StatusOr<PublicKey> key = ParsePublicKey(public_key);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a host public key: ", key.status().message()));
  }
  if (key->certificate) {
    return absl::InvalidArgumentError("a certificate, not a plain host key");
  }
  if (!key->comment.empty()) {
    return absl::InvalidArgumentError("\"TYPE BASE64\" expected, without a comment");
  }
  return absl::StrCat(name, " ", RenderPublicKey(*key));
}

}  // namespace keyfleet::cli
