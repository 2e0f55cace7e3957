#include "common/sha256.h"

// OpenSSL's low-level SHA256_* functions are deprecated in 3.0 in favour of EVP_Digest. They are
// used here on purpose: EVP's first implicit fetch initialises the provider framework (default
// provider, algorithm name map, configuration), which keeps about 2 MiB of libcrypto resident
// in every process that does it — a fifth of the agent's idle memory budget in DESIGN.md — while
// SHA256_Init/Update/Final run the same assembly directly. They remain in every OpenSSL 3 release.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <new>

#include "absl/strings/escaping.h"

namespace keyfleet {
namespace {

static_assert(sizeof(SHA256_CTX) <= 128, "Sha256::ctx_ is too small for SHA256_CTX");
static_assert(alignof(SHA256_CTX) <= 8, "Sha256::ctx_ is not aligned enough for SHA256_CTX");

SHA256_CTX* Ctx(std::array<unsigned char, 128>& storage) {
  return std::launder(reinterpret_cast<SHA256_CTX*>(storage.data()));
}

}  // namespace

Sha256::Sha256() {
  SHA256_Init(::new (ctx_.data()) SHA256_CTX);
}

void Sha256::Update(absl::string_view bytes) {
  SHA256_Update(Ctx(ctx_), bytes.data(), bytes.size());
}

std::string Sha256::Finish() {
  unsigned char digest[kSha256Bytes];
  SHA256_Final(digest, Ctx(ctx_));
  return std::string(reinterpret_cast<const char*>(digest), kSha256Bytes);
}

std::string Sha256Digest(absl::string_view bytes) {
  Sha256 sha;
  sha.Update(bytes);
  return sha.Finish();
}

std::string Sha256Hex(absl::string_view bytes) {
  return absl::BytesToHexString(Sha256Digest(bytes));
}

}  // namespace keyfleet
