// Which keys keyfleet accepts: allowed types and the minimum RSA size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_public_key.h"

namespace keyfleet {

// RSA keys below this are refused whatever the policy says.
inline constexpr uint32_t kRsaBitsFloor = 2048;

struct KeyPolicy {
  // Default: ssh-ed25519, the three ECDSA curves, both security-key types and ssh-rsa.
  std::vector<KeyType> allowed_types;
  uint32_t min_rsa_bits = kRsaBitsFloor;

  static KeyPolicy Default();
};

// A policy may not allow ssh-dss (or DSA certificates), may not set min_rsa_bits below
// kRsaBitsFloor or above kMaxRsaModulusBits, and must allow at least one type.
absl::Status ValidateKeyPolicy(const KeyPolicy& policy);

// OK, or FAILED_PRECONDITION naming the rule the key breaks, e.g.
// "key type ssh-dss is never allowed (rule: no-dsa): …".
absl::Status CheckKeyAgainstPolicy(const PublicKey& key, const KeyPolicy& policy);

// Parses a comma-separated list of key type names ("ssh-ed25519,ssh-rsa").
absl::StatusOr<std::vector<KeyType>> ParseKeyTypeList(absl::string_view text);

// "ssh-ed25519, ecdsa-sha2-nistp256, …"
std::string KeyTypeListToString(const std::vector<KeyType>& types);

}  // namespace keyfleet
