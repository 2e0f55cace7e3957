// Fuzzes the OpenSSH private key reader, on the input as key file text and, to reach the binary
// format without going through base64, on the input armoured as a key file's body. Every
// accepted key must hang together (ValidateSshKeyPair) and re-encode, unencrypted, to text that
// decodes to the same pair. Passphrase encoding is left out: its 16 bcrypt rounds cost ~130 ms.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/base64.h"
#include "common/openssh_private_key.h"
#include "common/ssh_key_generation.h"

namespace {

// Fixed bytes, so a crash reproduces from its input alone.
class CountingRandom : public keyfleet::RandomSource {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    for (uint8_t& b : out) b = next_++;
    return absl::OkStatus();
  }

 private:
  uint8_t next_ = 1;
};

std::string Armoured(absl::string_view binary) {
  const std::string base64 = keyfleet::Base64Encode(binary);
  std::string text = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  for (size_t i = 0; i < base64.size(); i += keyfleet::kOpenSshPrivateKeyLineChars) {
    absl::StrAppend(
        &text, absl::string_view(base64).substr(i, keyfleet::kOpenSshPrivateKeyLineChars), "\n");
  }
  absl::StrAppend(&text, "-----END OPENSSH PRIVATE KEY-----\n");
  return text;
}

void CheckDecode(absl::string_view text) {
  auto pair = keyfleet::DecodeOpenSshPrivateKey(text);
  if (!pair.ok()) return;
  if (!keyfleet::ValidateSshKeyPair(*pair).ok()) std::abort();
  CountingRandom random;
  auto again_text = keyfleet::EncodeOpenSshPrivateKey(*pair, std::nullopt, random);
  if (!again_text.ok()) std::abort();
  // Our 70-column lines can take a few more newlines than the input's (up to 76 columns) had.
  if (again_text->size() > keyfleet::kMaxOpenSshPrivateKeyTextBytes) return;
  auto again = keyfleet::DecodeOpenSshPrivateKey(again_text->view());
  if (!again.ok() || *again != *pair) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckDecode(input);
  CheckDecode(Armoured(input));
  return 0;
}
