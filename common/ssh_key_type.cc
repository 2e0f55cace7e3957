#include "common/ssh_key_type.h"

#include <array>

namespace keyfleet {
namespace {

struct KeyTypeInfo {
  KeyType type;
  absl::string_view name;
  absl::string_view short_name;
  KeyFamily family;
  EcCurve curve;
  uint32_t fixed_bits;
  bool is_cert;
  KeyType plain;
};

// Names as in OpenSSH's keytypes (ssh-*.c `sshkey_impl` tables).
constexpr std::array<KeyTypeInfo, 16> kKeyTypes = {{
    {KeyType::kEd25519, "ssh-ed25519", "ED25519", KeyFamily::kEd25519, EcCurve::kNone, 256, false,
     KeyType::kEd25519},
    {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256", "ECDSA", KeyFamily::kEcdsa, EcCurve::kP256, 256,
     false, KeyType::kEcdsaP256},
    {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384", "ECDSA", KeyFamily::kEcdsa, EcCurve::kP384, 384,
     false, KeyType::kEcdsaP384},
    {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521", "ECDSA", KeyFamily::kEcdsa, EcCurve::kP521, 521,
     false, KeyType::kEcdsaP521},
    {KeyType::kRsa, "ssh-rsa", "RSA", KeyFamily::kRsa, EcCurve::kNone, 0, false, KeyType::kRsa},
    {KeyType::kDsa, "ssh-dss", "DSA", KeyFamily::kDsa, EcCurve::kNone, 0, false, KeyType::kDsa},
    {KeyType::kSkEd25519, "sk-ssh-ed25519@openssh.com", "ED25519-SK", KeyFamily::kSkEd25519,
     EcCurve::kNone, 256, false, KeyType::kSkEd25519},
    {KeyType::kSkEcdsaP256, "sk-ecdsa-sha2-nistp256@openssh.com", "ECDSA-SK", KeyFamily::kSkEcdsa,
     EcCurve::kP256, 256, false, KeyType::kSkEcdsaP256},
    {KeyType::kEd25519Cert, "ssh-ed25519-cert-v01@openssh.com", "ED25519-CERT", KeyFamily::kEd25519,
     EcCurve::kNone, 256, true, KeyType::kEd25519},
    {KeyType::kEcdsaP256Cert, "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA-CERT",
     KeyFamily::kEcdsa, EcCurve::kP256, 256, true, KeyType::kEcdsaP256},
    {KeyType::kEcdsaP384Cert, "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ECDSA-CERT",
     KeyFamily::kEcdsa, EcCurve::kP384, 384, true, KeyType::kEcdsaP384},
    {KeyType::kEcdsaP521Cert, "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ECDSA-CERT",
     KeyFamily::kEcdsa, EcCurve::kP521, 521, true, KeyType::kEcdsaP521},
    {KeyType::kRsaCert, "ssh-rsa-cert-v01@openssh.com", "RSA-CERT", KeyFamily::kRsa, EcCurve::kNone,
     0, true, KeyType::kRsa},
    {KeyType::kDsaCert, "ssh-dss-cert-v01@openssh.com", "DSA-CERT", KeyFamily::kDsa, EcCurve::kNone,
     0, true, KeyType::kDsa},
    {KeyType::kSkEd25519Cert, "sk-ssh-ed25519-cert-v01@openssh.com", "ED25519-SK-CERT",
     KeyFamily::kSkEd25519, EcCurve::kNone, 256, true, KeyType::kSkEd25519},
    {KeyType::kSkEcdsaP256Cert, "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA-SK-CERT",
     KeyFamily::kSkEcdsa, EcCurve::kP256, 256, true, KeyType::kSkEcdsaP256},
}};

const KeyTypeInfo& Info(KeyType type) {
  return kKeyTypes[static_cast<size_t>(type)];
}

}  // namespace

const std::vector<KeyType>& AllKeyTypes() {
  static const std::vector<KeyType> all = [] {
    std::vector<KeyType> v;
    for (const auto& info : kKeyTypes) v.push_back(info.type);
    return v;
  }();
  return all;
}

absl::string_view KeyTypeName(KeyType type) {
  return Info(type).name;
}
absl::string_view KeyTypeShortName(KeyType type) {
  return Info(type).short_name;
}

std::optional<KeyType> KeyTypeFromName(absl::string_view name) {
  for (const auto& info : kKeyTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

bool IsCertificateType(KeyType type) {
  return Info(type).is_cert;
}
KeyType PlainKeyType(KeyType type) {
  return Info(type).plain;
}
KeyFamily KeyTypeFamily(KeyType type) {
  return Info(type).family;
}
EcCurve KeyTypeCurve(KeyType type) {
  return Info(type).curve;
}
uint32_t FixedKeyBits(KeyType type) {
  return Info(type).fixed_bits;
}

absl::string_view EcCurveName(EcCurve curve) {
  switch (curve) {
    case EcCurve::kP256:
      return "nistp256";
    case EcCurve::kP384:
      return "nistp384";
    case EcCurve::kP521:
      return "nistp521";
    case EcCurve::kNone:
      break;
  }
  return "";
}

}  // namespace keyfleet
