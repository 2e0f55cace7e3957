// Wire-blob half of ssh_public_key.h: decoding and checking the key material of each type.
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ec_point.h"
#include "common/ssh_certificate.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

// Compares two big-endian magnitudes without leading zero bytes.
int CompareMagnitude(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return std::memcmp(a.data(), b.data(), a.size());
}

bool IsOdd(absl::string_view magnitude) {
  return (static_cast<uint8_t>(magnitude.back()) & 1) != 0;
}

absl::Status ParseRsa(WireReader& r, PublicKey* key) {
  KF_ASSIGN_OR_RETURN(absl::string_view e, r.ReadPositiveMpint("RSA public exponent"));
  KF_ASSIGN_OR_RETURN(absl::string_view n, r.ReadPositiveMpint("RSA modulus"));
  const uint32_t bits = BigEndianBitLength(n);
  if (bits < kMinRsaModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat("RSA modulus is ", bits,
                                                   " bits; OpenSSH refuses keys below ",
                                                   kMinRsaModulusBits, " bits"));
  }
  if (bits > kMaxRsaModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus is ", bits, " bits; at most ", kMaxRsaModulusBits, " allowed"));
  }
  if (!IsOdd(n)) return absl::InvalidArgumentError("RSA modulus is even");
  if (!IsOdd(e) || CompareMagnitude(e, absl::string_view("\x03", 1)) < 0) {
    return absl::InvalidArgumentError("RSA public exponent must be odd and at least 3");
  }
  if (CompareMagnitude(e, n) >= 0) {
    return absl::InvalidArgumentError("RSA public exponent is not smaller than the modulus");
  }
  key->bits = bits;
  return absl::OkStatus();
}

absl::Status ParseDsa(WireReader& r, PublicKey* key) {
  KF_ASSIGN_OR_RETURN(absl::string_view p, r.ReadPositiveMpint("DSA p"));
  KF_ASSIGN_OR_RETURN(absl::string_view q, r.ReadPositiveMpint("DSA q"));
  KF_ASSIGN_OR_RETURN(absl::string_view g, r.ReadPositiveMpint("DSA g"));
  KF_ASSIGN_OR_RETURN(absl::string_view y, r.ReadPositiveMpint("DSA y"));
  const uint32_t bits = BigEndianBitLength(p);
  if (bits < kMinDsaModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("DSA p is ", bits, " bits; at least ", kMinDsaModulusBits, " required"));
  }
  if (!IsOdd(p) || CompareMagnitude(q, p) >= 0 || CompareMagnitude(g, p) >= 0 ||
      CompareMagnitude(y, p) >= 0) {
    return absl::InvalidArgumentError("DSA parameters are inconsistent (q, g and y must be < p)");
  }
  key->bits = bits;
  return absl::OkStatus();
}

absl::Status ParseEd25519(WireReader& r) {
  KF_ASSIGN_OR_RETURN(absl::string_view pk, r.ReadString("ed25519 public key"));
  if (pk.size() != kEd25519PublicKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ed25519 public key is ", pk.size(),
                                                   " bytes, expected ", kEd25519PublicKeyBytes));
  }
  return absl::OkStatus();
}

absl::Status ParseEcdsa(WireReader& r, EcCurve curve) {
  KF_ASSIGN_OR_RETURN(absl::string_view curve_name, r.ReadCString("ECDSA curve name"));
  if (curve_name != EcCurveName(curve)) {
    return absl::InvalidArgumentError(absl::StrCat("ECDSA curve in the blob is \"", curve_name,
                                                   "\", the key type says ", EcCurveName(curve)));
  }
  KF_ASSIGN_OR_RETURN(absl::string_view point, r.ReadString("ECDSA public point"));
  return ValidateEcPublicPoint(curve, point);
}

absl::StatusOr<PublicKey> ParseBlob(absl::string_view blob, bool allow_certificate) {
  if (blob.size() > kSshMaxPublicKeyBlobBytes) {
    return absl::InvalidArgumentError(absl::StrCat("key blob is ", blob.size(), " bytes; at most ",
                                                   kSshMaxPublicKeyBlobBytes, " allowed"));
  }
  WireReader r(blob);
  KF_ASSIGN_OR_RETURN(absl::string_view type_name, r.ReadCString("key type"));
  const std::optional<KeyType> type = KeyTypeFromName(type_name);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat("key blob has unknown key type \"", absl::CEscape(type_name), "\""));
  }
  if (IsCertificateType(*type) && !allow_certificate) {
    return absl::InvalidArgumentError("a certificate's CA key must not itself be a certificate");
  }
  PublicKey key;
  key.type = *type;
  key.bits = FixedKeyBits(*type);
  if (IsCertificateType(*type)) {
    KF_RETURN_IF_ERROR(r.ReadString("certificate nonce").status());
  }
  const size_t material_start = r.Position();
  switch (KeyTypeFamily(*type)) {
    case KeyFamily::kEd25519:
      KF_RETURN_IF_ERROR(ParseEd25519(r));
      break;
    case KeyFamily::kSkEd25519:
      KF_RETURN_IF_ERROR(ParseEd25519(r));
      KF_RETURN_IF_ERROR(r.ReadCString("security key application").status());
      break;
    case KeyFamily::kEcdsa:
      KF_RETURN_IF_ERROR(ParseEcdsa(r, KeyTypeCurve(*type)));
      break;
    case KeyFamily::kSkEcdsa:
      KF_RETURN_IF_ERROR(ParseEcdsa(r, KeyTypeCurve(*type)));
      KF_RETURN_IF_ERROR(r.ReadCString("security key application").status());
      break;
    case KeyFamily::kRsa:
      KF_RETURN_IF_ERROR(ParseRsa(r, &key));
      break;
    case KeyFamily::kDsa:
      KF_RETURN_IF_ERROR(ParseDsa(r, &key));
      break;
  }
  if (IsCertificateType(*type)) {
    const absl::string_view material = blob.substr(material_start, r.Position() - material_start);
    key.plain_blob = WireWriter().String(KeyTypeName(PlainKeyType(*type))).Raw(material).Take();
    key.certificate.emplace();
    KF_RETURN_IF_ERROR(ParseCertificateBody(r, blob, &*key.certificate));
  }
  KF_RETURN_IF_ERROR(r.ExpectEnd("key blob"));
  key.blob = std::string(blob);
  return key;
}

}  // namespace

absl::StatusOr<PublicKey> ParsePublicKeyBlob(absl::string_view blob) {
  return ParseBlob(blob, /*allow_certificate=*/true);
}

absl::StatusOr<PublicKey> ParsePlainPublicKeyBlob(absl::string_view blob) {
  return ParseBlob(blob, /*allow_certificate=*/false);
}

}  // namespace keyfleet
