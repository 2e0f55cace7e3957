#include "common/ssh_signature.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ssh_wire.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using Bn = std::unique_ptr<BIGNUM, BnDeleter>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Bn ToBn(absl::string_view magnitude) {
  return Bn(BN_bin2bn(Bytes(magnitude), static_cast<int>(magnitude.size()), nullptr));
}

absl::StatusOr<Pkey> PkeyFromParams(const char* algorithm, const OSSL_PARAM* params) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) !=
          1) {
    return absl::InternalError(absl::StrCat("OpenSSL could not load the ", algorithm, " key"));
  }
  return Pkey(raw);
}

absl::Status DigestVerify(EVP_PKEY* pkey, const EVP_MD* md, absl::string_view sig,
                          absl::string_view data) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) {
    return absl::InternalError("OpenSSL could not start signature verification");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(sig), sig.size(), Bytes(data), data.size()) != 1) {
    return absl::InvalidArgumentError("signature is not valid for this key and data");
  }
  return absl::OkStatus();
}

absl::Status VerifyEd25519(WireReader& key, absl::string_view sig_type, absl::string_view sig,
                           absl::string_view data) {
  if (sig_type != "ssh-ed25519") {
    return absl::InvalidArgumentError(
        absl::StrCat("signature algorithm ", sig_type, " does not match an ssh-ed25519 key"));
  }
  KF_ASSIGN_OR_RETURN(absl::string_view pk, key.ReadString("ed25519 public key"));
  if (sig.size() != 64) return absl::InvalidArgumentError("ed25519 signature is not 64 bytes");
  Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(pk), pk.size()));
  if (!pkey) return absl::InternalError("OpenSSL could not load the ed25519 key");
  return DigestVerify(pkey.get(), nullptr, sig, data);
}

absl::Status VerifyEcdsa(const PublicKey& signer, WireReader& key, absl::string_view sig_type,
                         absl::string_view sig, absl::string_view data) {
  if (sig_type != KeyTypeName(signer.type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature algorithm ", sig_type, " does not match a ", KeyTypeName(signer.type), " key"));
  }
  KF_RETURN_IF_ERROR(key.ReadCString("ECDSA curve name").status());
  KF_ASSIGN_OR_RETURN(absl::string_view point, key.ReadString("ECDSA public point"));
  const char* group = nullptr;
  const EVP_MD* md = nullptr;
  switch (KeyTypeCurve(signer.type)) {
    case EcCurve::kP256:
      group = "prime256v1", md = EVP_sha256();
      break;
    case EcCurve::kP384:
      group = "secp384r1", md = EVP_sha384();
      break;
    case EcCurve::kP521:
      group = "secp521r1", md = EVP_sha512();
      break;
    case EcCurve::kNone:
      return absl::InternalError("ECDSA key without a curve");
  }
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end()};
  KF_ASSIGN_OR_RETURN(Pkey pkey, PkeyFromParams("EC", params));

  WireReader s(sig);
  KF_ASSIGN_OR_RETURN(absl::string_view r_bytes, s.ReadPositiveMpint("ECDSA signature r"));
  KF_ASSIGN_OR_RETURN(absl::string_view s_bytes, s.ReadPositiveMpint("ECDSA signature s"));
  KF_RETURN_IF_ERROR(s.ExpectEnd("ECDSA signature"));
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> ecdsa_sig(ECDSA_SIG_new());
  Bn r = ToBn(r_bytes), sv = ToBn(s_bytes);
  if (!ecdsa_sig || !r || !sv || ECDSA_SIG_set0(ecdsa_sig.get(), r.get(), sv.get()) != 1) {
    return absl::InternalError("OpenSSL could not build the ECDSA signature");
  }
  r.release();
  sv.release();
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(ecdsa_sig.get(), &der);
  if (der_len <= 0) return absl::InternalError("OpenSSL could not encode the ECDSA signature");
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  return DigestVerify(pkey.get(), md, der_sig, data);
}

absl::Status VerifyRsa(WireReader& key, absl::string_view sig_type, absl::string_view sig,
                       absl::string_view data) {
  const EVP_MD* md = nullptr;
  if (sig_type == "rsa-sha2-512") {
    md = EVP_sha512();
  } else if (sig_type == "rsa-sha2-256") {
    md = EVP_sha256();
  } else if (sig_type == "ssh-rsa") {
    md = EVP_sha1();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("signature algorithm ", sig_type, " does not match an ssh-rsa key"));
  }
  KF_ASSIGN_OR_RETURN(absl::string_view e, key.ReadPositiveMpint("RSA public exponent"));
  KF_ASSIGN_OR_RETURN(absl::string_view n, key.ReadPositiveMpint("RSA modulus"));
  if (sig.size() > n.size()) return absl::InvalidArgumentError("RSA signature is too long");
  // OpenSSH accepts signatures shorter than the modulus and zero-pads them.
  std::string padded(n.size() - sig.size(), '\0');
  padded.append(sig.data(), sig.size());
  Bn bn_n = ToBn(n), bn_e = ToBn(e);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return absl::InternalError("OpenSSL could not build the RSA key");
  }
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return absl::InternalError("OpenSSL could not build the RSA key");
  KF_ASSIGN_OR_RETURN(Pkey pkey, PkeyFromParams("RSA", params.get()));
  return DigestVerify(pkey.get(), md, padded, data);
}

}  // namespace

absl::Status VerifySshSignature(const PublicKey& signer, absl::string_view signature,
                                absl::string_view data) {
  WireReader outer(signature);
  KF_ASSIGN_OR_RETURN(absl::string_view sig_type, outer.ReadCString("signature algorithm"));
  KF_ASSIGN_OR_RETURN(absl::string_view sig, outer.ReadString("signature bytes"));
  KF_RETURN_IF_ERROR(outer.ExpectEnd("signature"));

  WireReader key(signer.blob);
  KF_RETURN_IF_ERROR(key.ReadCString("key type").status());
  switch (KeyTypeFamily(signer.type)) {
    case KeyFamily::kEd25519:
      return VerifyEd25519(key, sig_type, sig, data);
    case KeyFamily::kEcdsa:
      return VerifyEcdsa(signer, key, sig_type, sig, data);
    case KeyFamily::kRsa:
      return VerifyRsa(key, sig_type, sig, data);
    case KeyFamily::kDsa:
    case KeyFamily::kSkEd25519:
    case KeyFamily::kSkEcdsa:
      break;
  }
  return absl::UnimplementedError(
      absl::StrCat("signatures by ", KeyTypeName(signer.type), " keys are not supported"));
}

}  // namespace keyfleet
