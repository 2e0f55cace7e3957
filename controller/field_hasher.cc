#include "controller/field_hasher.h"

#include <openssl/evp.h>

#include <cstdint>

#include "absl/strings/escaping.h"

namespace keyfleet::controller {

void FieldHasher::Add(absl::string_view field) {
  uint64_t n = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) buffer_.push_back(static_cast<char>(n >> shift));
  buffer_.append(field.data(), field.size());
}

std::string FieldHasher::HexDigest() const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(buffer_.data(), buffer_.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace keyfleet::controller
