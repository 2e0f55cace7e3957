// SHA256 fingerprints as OpenSSH prints them ("SHA256:" and 43 symbols of unpadded base64) and
// the raw 32-byte digests they stand for (what a KRL's fingerprint section holds).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

// The raw digest of `text`, strictly: exactly "SHA256:" and 43 base64 symbols whose unused
// bits are zero. INVALID_ARGUMENT saying what is allowed otherwise.
absl::StatusOr<std::string> Sha256FingerprintDigest(absl::string_view text);

// "SHA256:…" for a raw 32-byte digest.
std::string Sha256FingerprintText(absl::string_view digest);

}  // namespace keyfleet
