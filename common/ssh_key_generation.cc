#include "common/ssh_key_generation.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <array>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace keyfleet {

void internal::CleanseMemory(void* p, size_t bytes) {
  if (p != nullptr && bytes != 0) OPENSSL_cleanse(p, bytes);
}

SecretBytes& SecretBytes::Append(absl::string_view bytes) {
  bytes_.append(bytes.data(), bytes.size());
  return *this;
}

SecretBytes& SecretBytes::AppendU32(uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  return Append(absl::string_view(b, 4));
}

SecretBytes& SecretBytes::AppendString(absl::string_view s) {
  AppendU32(static_cast<uint32_t>(s.size()));
  return Append(s);
}

SecretBytes& SecretBytes::AppendMpint(absl::string_view magnitude) {
  if (!magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80)) {
    AppendU32(static_cast<uint32_t>(magnitude.size() + 1));
    bytes_.push_back('\0');
    return Append(magnitude);
  }
  return AppendString(magnitude);
}

namespace {

constexpr size_t kEd25519SeedBytes = 32;
constexpr size_t kEd25519PrivateKeyBytes = kEd25519SeedBytes + kEd25519PublicKeyBytes;
constexpr size_t kP256PointBytes = 1 + 2 * 32;  // 0x04 || X || Y

struct GeneratedTypeInfo {
  GeneratedKeyType type;
  absl::string_view name;
  KeyType ssh_type;
};
constexpr std::array<GeneratedTypeInfo, 3> kGeneratedTypes = {{
    {GeneratedKeyType::kEd25519, "ed25519", KeyType::kEd25519},
    {GeneratedKeyType::kEcdsaP256, "ecdsa-p256", KeyType::kEcdsaP256},
    {GeneratedKeyType::kRsa3072, "rsa-3072", KeyType::kRsa},
}};

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
// Every BIGNUM here may be secret, so all are wiped on release.
struct BnClearFree {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
struct EcGroupFree {
  void operator()(EC_GROUP* group) const { EC_GROUP_free(group); }
};
struct EcPointFree {
  void operator()(EC_POINT* point) const { EC_POINT_free(point); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnClearFree>;
using BnCtxPtr = std::unique_ptr<BN_CTX, BnCtxFree>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, EcGroupFree>;
using EcPointPtr = std::unique_ptr<EC_POINT, EcPointFree>;

// INTERNAL naming what failed and OpenSSL's first queued reason; clears the queue.
absl::Status OpenSslFailure(absl::string_view what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = "no details from OpenSSL";
  if (code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, " failed: ", reason));
}

absl::string_view View(const uint8_t* bytes, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(bytes), size);
}

// The big-endian magnitude of `bn`, without leading zero bytes.
SecretBytes Magnitude(const BIGNUM* bn) {
  SecretBytes out;
  out.resize(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  return out;
}

// nullptr only when out of memory. Marked constant-time: the value may be secret.
BnPtr BnFromMagnitude(absl::string_view magnitude) {
  BnPtr bn(BN_bin2bn(reinterpret_cast<const uint8_t*>(magnitude.data()),
                     static_cast<int>(magnitude.size()), nullptr));
  if (bn) BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
  return bn;
}

absl::StatusOr<BnPtr> GetBnParam(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
    return OpenSslFailure(absl::StrCat("reading key parameter ", name));
  }
  return BnPtr(bn);
}

// ---- Generation ------------------------------------------------------------------------------

absl::StatusOr<SshKeyPair> GenerateEd25519() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return OpenSslFailure("ed25519 key generation");
  SecretBytes seed;
  seed.resize(kEd25519SeedBytes);
  size_t seed_size = seed.size();
  std::array<uint8_t, kEd25519PublicKeyBytes> pub;
  size_t pub_size = pub.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &seed_size) != 1 ||
      seed_size != kEd25519SeedBytes ||
      EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &pub_size) != 1 ||
      pub_size != kEd25519PublicKeyBytes) {
    return OpenSslFailure("reading the ed25519 key");
  }
  const absl::string_view type = KeyTypeName(KeyType::kEd25519);
  const absl::string_view pub_view = View(pub.data(), pub.size());
  SshKeyPair pair;
  pair.type = KeyType::kEd25519;
  pair.public_blob = WireWriter().String(type).String(pub_view).Take();
  SecretBytes private_key = seed;
  private_key.Append(pub_view);
  pair.private_fields.AppendString(type).AppendString(pub_view).AppendString(private_key.view());
  return pair;
}

absl::StatusOr<SshKeyPair> GenerateEcdsaP256() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpenSslFailure("ECDSA P-256 key generation");
  std::array<uint8_t, kP256PointBytes> point;
  size_t point_size = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                      point.size(), &point_size) != 1) {
    return OpenSslFailure("reading the ECDSA public point");
  }
  // OpenSSL's default is the uncompressed form SSH needs; make sure rather than assume.
  if (point_size != kP256PointBytes || point[0] != 0x04) {
    return absl::InternalError("OpenSSL returned the ECDSA public point not uncompressed");
  }
  KF_ASSIGN_OR_RETURN(BnPtr d, GetBnParam(key.get(), OSSL_PKEY_PARAM_PRIV_KEY));
  const absl::string_view type = KeyTypeName(KeyType::kEcdsaP256);
  const absl::string_view curve = EcCurveName(EcCurve::kP256);
  const absl::string_view q = View(point.data(), point.size());
  SshKeyPair pair;
  pair.type = KeyType::kEcdsaP256;
  pair.public_blob = WireWriter().String(type).String(curve).String(q).Take();
  pair.private_fields.AppendString(type).AppendString(curve).AppendString(q).AppendMpint(
      Magnitude(d.get()).view());
  return pair;
}

absl::StatusOr<SshKeyPair> GenerateRsa3072() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  BnPtr exponent(BN_new());
  if (!ctx || !exponent || !BN_set_word(exponent.get(), kGeneratedRsaPublicExponent) ||
      EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kGeneratedRsaModulusBits) != 1 ||
      EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), exponent.get()) != 1) {
    return OpenSslFailure("setting up RSA key generation");
  }
  EVP_PKEY* raw_key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw_key) != 1) return OpenSslFailure("RSA key generation");
  PkeyPtr key(raw_key);
  KF_ASSIGN_OR_RETURN(BnPtr n, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_N));
  KF_ASSIGN_OR_RETURN(BnPtr e, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_E));
  KF_ASSIGN_OR_RETURN(BnPtr d, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_D));
  KF_ASSIGN_OR_RETURN(BnPtr p, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_FACTOR1));
  KF_ASSIGN_OR_RETURN(BnPtr q, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_FACTOR2));
  // OpenSSL's first CRT coefficient is q^-1 mod p, which is OpenSSH's iqmp.
  KF_ASSIGN_OR_RETURN(BnPtr iqmp, GetBnParam(key.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1));
  if (!BN_is_word(e.get(), kGeneratedRsaPublicExponent) ||
      static_cast<uint32_t>(BN_num_bits(n.get())) != kGeneratedRsaModulusBits) {
    return absl::InternalError("OpenSSL generated an RSA key of another size or exponent");
  }
  const absl::string_view type = KeyTypeName(KeyType::kRsa);
  const SecretBytes n_bytes = Magnitude(n.get()), e_bytes = Magnitude(e.get());
  SshKeyPair pair;
  pair.type = KeyType::kRsa;
  pair.public_blob = WireWriter().String(type).Mpint(e_bytes.view()).Mpint(n_bytes.view()).Take();
  pair.private_fields.AppendString(type)
      .AppendMpint(n_bytes.view())
      .AppendMpint(e_bytes.view())
      .AppendMpint(Magnitude(d.get()).view())
      .AppendMpint(Magnitude(iqmp.get()).view())
      .AppendMpint(Magnitude(p.get()).view())
      .AppendMpint(Magnitude(q.get()).view());
  return pair;
}

// ---- Checking private fields ------------------------------------------------------------------

absl::Status ExpectSamePublicKey(absl::string_view rebuilt, absl::string_view public_blob) {
  if (rebuilt == public_blob) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "the public key inside the private section differs from the file's public key");
}

absl::Status CheckEd25519Fields(WireReader& r, absl::string_view public_blob) {
  KF_ASSIGN_OR_RETURN(absl::string_view pub, r.ReadString("ed25519 public key"));
  KF_ASSIGN_OR_RETURN(absl::string_view priv, r.ReadString("ed25519 private key"));
  KF_RETURN_IF_ERROR(ExpectSamePublicKey(
      WireWriter().String(KeyTypeName(KeyType::kEd25519)).String(pub).Take(), public_blob));
  if (priv.size() != kEd25519PrivateKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ed25519 private key is ", priv.size(),
                                                   " bytes, expected ", kEd25519PrivateKeyBytes,
                                                   " (seed and public key)"));
  }
  if (priv.substr(kEd25519SeedBytes) != pub) {
    return absl::InvalidArgumentError("ed25519 private key does not end with its public key");
  }
  PkeyPtr key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const uint8_t*>(priv.data()), kEd25519SeedBytes));
  std::array<uint8_t, kEd25519PublicKeyBytes> derived;
  size_t derived_size = derived.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), derived.data(), &derived_size) != 1 ||
      derived_size != derived.size()) {
    return OpenSslFailure("deriving the ed25519 public key");
  }
  if (View(derived.data(), derived.size()) != pub) {
    return absl::InvalidArgumentError("ed25519 private seed does not belong to the public key");
  }
  return absl::OkStatus();
}

absl::Status CheckEcdsaP256Fields(WireReader& r, absl::string_view public_blob) {
  KF_ASSIGN_OR_RETURN(absl::string_view curve, r.ReadCString("ECDSA curve name"));
  KF_ASSIGN_OR_RETURN(absl::string_view q, r.ReadString("ECDSA public point"));
  KF_ASSIGN_OR_RETURN(absl::string_view d, r.ReadPositiveMpint("ECDSA private scalar"));
  KF_RETURN_IF_ERROR(ExpectSamePublicKey(
      WireWriter().String(KeyTypeName(KeyType::kEcdsaP256)).String(curve).String(q).Take(),
      public_blob));
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnCtxPtr ctx(BN_CTX_new());
  BnPtr scalar = BnFromMagnitude(d);
  if (!group || !ctx || !scalar) return OpenSslFailure("setting up the ECDSA check");
  if (BN_cmp(scalar.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return absl::InvalidArgumentError("ECDSA private scalar is not below the group order");
  }
  EcPointPtr product(EC_POINT_new(group.get()));
  std::array<uint8_t, kP256PointBytes> encoded;
  if (!product ||
      EC_POINT_mul(group.get(), product.get(), scalar.get(), nullptr, nullptr, ctx.get()) != 1 ||
      EC_POINT_point2oct(group.get(), product.get(), POINT_CONVERSION_UNCOMPRESSED, encoded.data(),
                         encoded.size(), ctx.get()) != encoded.size()) {
    return OpenSslFailure("computing the ECDSA public point");
  }
  if (View(encoded.data(), encoded.size()) != q) {
    return absl::InvalidArgumentError("ECDSA private scalar does not belong to the public point");
  }
  return absl::OkStatus();
}

absl::Status CheckRsaFields(WireReader& r, absl::string_view public_blob) {
  KF_ASSIGN_OR_RETURN(absl::string_view n, r.ReadPositiveMpint("RSA modulus"));
  KF_ASSIGN_OR_RETURN(absl::string_view e, r.ReadPositiveMpint("RSA public exponent"));
  KF_ASSIGN_OR_RETURN(absl::string_view d, r.ReadPositiveMpint("RSA private exponent"));
  KF_ASSIGN_OR_RETURN(absl::string_view iqmp, r.ReadPositiveMpint("RSA iqmp"));
  KF_ASSIGN_OR_RETURN(absl::string_view p, r.ReadPositiveMpint("RSA prime p"));
  KF_ASSIGN_OR_RETURN(absl::string_view q, r.ReadPositiveMpint("RSA prime q"));
  KF_RETURN_IF_ERROR(ExpectSamePublicKey(
      WireWriter().String(KeyTypeName(KeyType::kRsa)).Mpint(e).Mpint(n).Take(), public_blob));

  BnCtxPtr ctx(BN_CTX_new());
  BnPtr bn_n = BnFromMagnitude(n), bn_e = BnFromMagnitude(e), bn_d = BnFromMagnitude(d);
  BnPtr bn_iqmp = BnFromMagnitude(iqmp), bn_p = BnFromMagnitude(p), bn_q = BnFromMagnitude(q);
  BnPtr product(BN_new()), p_minus_1(BN_new()), q_minus_1(BN_new()), rem(BN_new());
  if (!ctx || !bn_n || !bn_e || !bn_d || !bn_iqmp || !bn_p || !bn_q || !product || !p_minus_1 ||
      !q_minus_1 || !rem) {
    return OpenSslFailure("setting up the RSA check");
  }
  if (BN_is_one(bn_p.get()) || BN_is_one(bn_q.get())) {
    return absl::InvalidArgumentError("RSA prime p or q is 1");
  }
  if (!BN_mul(product.get(), bn_p.get(), bn_q.get(), ctx.get())) {
    return OpenSslFailure("RSA check");
  }
  if (BN_cmp(product.get(), bn_n.get()) != 0) {
    return absl::InvalidArgumentError("RSA primes p and q do not multiply to the modulus");
  }
  if (BN_cmp(bn_d.get(), bn_n.get()) >= 0) {
    return absl::InvalidArgumentError("RSA private exponent is not below the modulus");
  }
  if (BN_cmp(bn_iqmp.get(), bn_p.get()) >= 0) {
    return absl::InvalidArgumentError("RSA iqmp is not below p");
  }
  // e·d ≡ 1 modulo p-1 and q-1 is what makes d undo e; iqmp is used for the CRT speed-up.
  if (!BN_sub(p_minus_1.get(), bn_p.get(), BN_value_one()) ||
      !BN_sub(q_minus_1.get(), bn_q.get(), BN_value_one()) ||
      !BN_mod_mul(rem.get(), bn_e.get(), bn_d.get(), p_minus_1.get(), ctx.get())) {
    return OpenSslFailure("RSA check");
  }
  const bool d_ok_mod_p = BN_is_one(rem.get());
  if (!BN_mod_mul(rem.get(), bn_e.get(), bn_d.get(), q_minus_1.get(), ctx.get())) {
    return OpenSslFailure("RSA check");
  }
  if (!d_ok_mod_p || !BN_is_one(rem.get())) {
    return absl::InvalidArgumentError("RSA private exponent does not invert the public exponent");
  }
  if (!BN_mod_mul(rem.get(), bn_iqmp.get(), bn_q.get(), bn_p.get(), ctx.get())) {
    return OpenSslFailure("RSA check");
  }
  if (!BN_is_one(rem.get())) {
    return absl::InvalidArgumentError("RSA iqmp is not the inverse of q modulo p");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GeneratedKeyType> ParseGeneratedKeyType(absl::string_view name) {
  for (const auto& info : kGeneratedTypes) {
    if (info.name == name) return info.type;
  }
  std::vector<absl::string_view> names;
  for (const auto& info : kGeneratedTypes) names.push_back(info.name);
  return absl::InvalidArgumentError(absl::StrCat(
      "key type \"", name, "\" cannot be generated (allowed: ", absl::StrJoin(names, ", "), ")"));
}

absl::string_view GeneratedKeyTypeName(GeneratedKeyType type) {
  return kGeneratedTypes[static_cast<size_t>(type)].name;
}

const std::vector<GeneratedKeyType>& AllGeneratedKeyTypes() {
  static const std::vector<GeneratedKeyType> all = [] {
    std::vector<GeneratedKeyType> types;
    for (const auto& info : kGeneratedTypes) types.push_back(info.type);
    return types;
  }();
  return all;
}

KeyType SshKeyTypeOf(GeneratedKeyType type) {
  return kGeneratedTypes[static_cast<size_t>(type)].ssh_type;
}

absl::StatusOr<SshKeyPair> GenerateSshKeyPair(GeneratedKeyType type, absl::string_view comment) {
  KF_RETURN_IF_ERROR(ValidateKeyComment(comment));
  absl::StatusOr<SshKeyPair> pair = absl::InternalError("unknown generated key type");
  switch (type) {
    case GeneratedKeyType::kEd25519:
      pair = GenerateEd25519();
      break;
    case GeneratedKeyType::kEcdsaP256:
      pair = GenerateEcdsaP256();
      break;
    case GeneratedKeyType::kRsa3072:
      pair = GenerateRsa3072();
      break;
  }
  if (!pair.ok()) return pair.status();
  pair->comment = std::string(comment);
  // Our own reader must accept what we write; anything else is a bug to stop on, not a key.
  if (absl::Status check = ValidateSshKeyPair(*pair); !check.ok()) {
    return absl::InternalError(
        absl::StrCat("generated key failed its own consistency check: ", check.message()));
  }
  return pair;
}

absl::StatusOr<PublicKey> SshKeyPairPublicKey(const SshKeyPair& pair) {
  KF_ASSIGN_OR_RETURN(PublicKey key, ParsePublicKeyBlob(pair.public_blob));
  key.comment = pair.comment;
  return key;
}

absl::StatusOr<KeyType> ReadPrivateKeyFields(WireReader& reader, absl::string_view public_blob) {
  KF_ASSIGN_OR_RETURN(const PublicKey public_key, ParsePublicKeyBlob(public_blob));
  const KeyType type = public_key.type;
  if (type != KeyType::kEd25519 && type != KeyType::kEcdsaP256 && type != KeyType::kRsa) {
    return absl::InvalidArgumentError(
        absl::StrCat("private keys of type ", KeyTypeName(type),
                     " are not supported (supported: ", KeyTypeName(KeyType::kEd25519), ", ",
                     KeyTypeName(KeyType::kEcdsaP256), ", ", KeyTypeName(KeyType::kRsa), ")"));
  }
  KF_ASSIGN_OR_RETURN(absl::string_view type_name, reader.ReadCString("private key type"));
  // Not quoted in the message: these bytes come from the secret section.
  if (type_name != KeyTypeName(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key type in the private section differs from the public key type ",
                     KeyTypeName(type)));
  }
  switch (type) {
    case KeyType::kEd25519:
      KF_RETURN_IF_ERROR(CheckEd25519Fields(reader, public_blob));
      break;
    case KeyType::kEcdsaP256:
      KF_RETURN_IF_ERROR(CheckEcdsaP256Fields(reader, public_blob));
      break;
    default:
      KF_RETURN_IF_ERROR(CheckRsaFields(reader, public_blob));
      break;
  }
  return type;
}

absl::Status ValidateSshKeyPair(const SshKeyPair& pair) {
  KF_RETURN_IF_ERROR(ValidateKeyComment(pair.comment));
  WireReader reader(pair.private_fields.view());
  KF_ASSIGN_OR_RETURN(const KeyType type, ReadPrivateKeyFields(reader, pair.public_blob));
  KF_RETURN_IF_ERROR(reader.ExpectEnd("private key fields"));
  if (type != pair.type) {
    return absl::InvalidArgumentError(absl::StrCat("key pair says type ", KeyTypeName(pair.type),
                                                   " but its key is ", KeyTypeName(type)));
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
