// Key fingerprints exactly as `ssh-keygen -l [-E md5]` prints them.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_public_key.h"

namespace keyfleet {

enum class FingerprintHash { kSha256, kMd5 };

// "SHA256:" + unpadded base64 of SHA-256(blob), or "MD5:" + colon-separated lower-case hex
// pairs of MD5(blob). For certificates the certified key is hashed, as OpenSSH does.
std::string Fingerprint(const PublicKey& key, FingerprintHash hash = FingerprintHash::kSha256);

// "sha256" or "md5" (case-insensitive), as ssh-keygen's -E takes them.
absl::StatusOr<FingerprintHash> ParseFingerprintHash(absl::string_view name);

}  // namespace keyfleet
