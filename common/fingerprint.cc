#include "common/fingerprint.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base64.h"

namespace keyfleet {
namespace {

std::string Digest(const EVP_MD* md, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string Fingerprint(const PublicKey& key, FingerprintHash hash) {
  if (hash == FingerprintHash::kSha256) {
    return absl::StrCat("SHA256:",
                        Base64EncodeUnpadded(Digest(EVP_sha256(), key.FingerprintBlob())));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "MD5:";
  for (unsigned char c : Digest(EVP_md5(), key.FingerprintBlob())) {
    if (out.size() > 4) out.push_back(':');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  }
  return out;
}

absl::StatusOr<FingerprintHash> ParseFingerprintHash(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "sha256") return FingerprintHash::kSha256;
  if (lower == "md5") return FingerprintHash::kMd5;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown fingerprint hash \"", name, "\" (allowed: sha256, md5)"));
}

}  // namespace keyfleet
