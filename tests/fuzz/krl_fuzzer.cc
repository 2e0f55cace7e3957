// Fuzzes the KRL reader (common/krl.h). Checks, for every input:
//  - a KRL it reads is written again, and that file reads back with the same header and keys,
//    every fingerprint it had, and each explicit key's own (what BuildKrl adds);
//  - what it refuses is INVALID_ARGUMENT with a message of bounded size.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/krl.h"
#include "common/sha256.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using keyfleet::fuzz::Require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<keyfleet::Krl> krl = keyfleet::ParseKrl(input);
  if (!krl.ok()) {
    Require(krl.status().code() == absl::StatusCode::kInvalidArgument);
    Require(!krl.status().message().empty() && krl.status().message().size() < 1024);
    return 0;
  }
  absl::StatusOr<std::string> again = keyfleet::BuildKrl(*krl);
  Require(again.ok());
  absl::StatusOr<keyfleet::Krl> back = keyfleet::ParseKrl(*again);
  Require(back.ok());
  Require(back->version == krl->version && back->generated_at == krl->generated_at &&
          back->comment == krl->comment && back->key_blobs == krl->key_blobs);
  for (const std::string& d : krl->sha256) Require(back->sha256.count(d) == 1);
  for (const std::string& blob : krl->key_blobs) {
    Require(back->sha256.count(keyfleet::Sha256Digest(blob)) == 1);
    Require(keyfleet::KrlRevokes(*back, blob));
  }
  Require(back->sha256.size() <= krl->sha256.size() + krl->key_blobs.size());
  return 0;
}
