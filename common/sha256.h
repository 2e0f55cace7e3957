// SHA-256 for the digests keyfleet computes itself (managed-block hashes, desired-state digests,
// cache slot checksums). SSH key fingerprints keep using common/fingerprint.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet {

inline constexpr size_t kSha256Bytes = 32;

// An incremental SHA-256: Update any number of times, then Finish once.
class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // The 32-byte digest. The object must not be used afterwards.
  std::string Finish();

 private:
  // Storage for OpenSSL's SHA256_CTX (112 bytes), kept opaque so callers don't include OpenSSL.
  alignas(8) std::array<unsigned char, 128> ctx_;
};

// The 32-byte SHA-256 of `bytes`.
std::string Sha256Digest(absl::string_view bytes);

// The SHA-256 of `bytes` as 64 lower-case hex digits.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace keyfleet
