// Fuzzes the public key parsers (text and blob). Every accepted key must render to text that
// parses back to the same key, and fingerprint without crashing.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/fingerprint.h"
#include "common/ssh_public_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto key = keyfleet::ParsePublicKey(input); key.ok()) {
    const std::string text = keyfleet::RenderPublicKey(*key);
    auto again = keyfleet::ParsePublicKey(text);
    if (!again.ok() || *again != *key) std::abort();
    (void)keyfleet::Fingerprint(*key);
    (void)keyfleet::Fingerprint(*key, keyfleet::FingerprintHash::kMd5);
  }
  if (auto key = keyfleet::ParsePublicKeyBlob(input); key.ok()) {
    if (key->blob != input) std::abort();
    auto again = keyfleet::ParsePublicKey(keyfleet::RenderPublicKey(*key));
    if (!again.ok() || *again != *key) std::abort();
  }
  return 0;
}
