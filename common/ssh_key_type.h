// The OpenSSH public key types keyfleet knows, and their names.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace keyfleet {

enum class KeyType : uint8_t {
  kEd25519,
  kEcdsaP256,
  kEcdsaP384,
  kEcdsaP521,
  kRsa,
  kDsa,
  kSkEd25519,
  kSkEcdsaP256,
  kEd25519Cert,
  kEcdsaP256Cert,
  kEcdsaP384Cert,
  kEcdsaP521Cert,
  kRsaCert,
  kDsaCert,
  kSkEd25519Cert,
  kSkEcdsaP256Cert,
};

// How the key material is laid out in the blob (certificates share their plain type's layout).
enum class KeyFamily : uint8_t { kEd25519, kEcdsa, kRsa, kDsa, kSkEd25519, kSkEcdsa };

enum class EcCurve : uint8_t { kNone, kP256, kP384, kP521 };

// Every type, plain types first, in enum order.
const std::vector<KeyType>& AllKeyTypes();

// The wire / file name, e.g. "ssh-ed25519", "ecdsa-sha2-nistp256-cert-v01@openssh.com".
absl::string_view KeyTypeName(KeyType type);
// The name `ssh-keygen -l` prints in parentheses, e.g. "ED25519", "ECDSA-SK", "RSA-CERT".
absl::string_view KeyTypeShortName(KeyType type);
// Exact, case-sensitive match of a wire name. Signature algorithm names such as
// "rsa-sha2-256" are not key types and give nullopt.
std::optional<KeyType> KeyTypeFromName(absl::string_view name);

bool IsCertificateType(KeyType type);
// The certified key's type for a certificate type; the type itself otherwise.
KeyType PlainKeyType(KeyType type);
KeyFamily KeyTypeFamily(KeyType type);
EcCurve KeyTypeCurve(KeyType type);
// The SSH curve identifier inside ECDSA blobs ("nistp256", …); empty for other types.
absl::string_view EcCurveName(EcCurve curve);
// Key size in bits for types whose size is fixed by the type (0 for RSA and DSA).
uint32_t FixedKeyBits(KeyType type);

}  // namespace keyfleet
