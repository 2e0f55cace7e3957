#include "controller/ca/certificate_builder.h"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/ca/certificate_authority.h"

namespace keyfleet::controller {
namespace {

constexpr int kSerialBytes = 16;  // 128 bits, as CA/Browser Forum practice asks for at least 64
constexpr absl::Duration kCaBackdate = absl::Hours(1);

struct BignumFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct Asn1IntegerFree {
  void operator()(ASN1_INTEGER* n) const { ASN1_INTEGER_free(n); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct GeneralNameFree {
  void operator()(GENERAL_NAME* name) const { GENERAL_NAME_free(name); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* ext) const { X509_EXTENSION_free(ext); }
};

absl::Status OpenSslFailure(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", tls::OpenSslErrors()));
}

absl::Status SetTime(ASN1_TIME* field, absl::Time time) {
  // ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime after, as RFC 5280 requires.
  if (ASN1_TIME_set(field, absl::ToTimeT(time)) == nullptr) {
    return OpenSslFailure("cannot set a certificate validity time");
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[kSerialBytes];
  std::unique_ptr<BIGNUM, BignumFree> serial;
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslFailure("cannot draw a serial");
    serial.reset(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (serial == nullptr) return OpenSslFailure("cannot draw a serial");
  } while (BN_is_zero(serial.get()));  // RFC 5280: serials are positive
  std::unique_ptr<ASN1_INTEGER, Asn1IntegerFree> integer(BN_to_ASN1_INTEGER(serial.get(), nullptr));
  if (integer == nullptr || X509_set_serialNumber(cert, integer.get()) != 1) {
    return OpenSslFailure("cannot set a serial");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return OpenSslFailure("cannot draw random bytes");
  }
  return absl::BytesToHexString(raw);
}

absl::StatusOr<tls::X509Ptr> NewCertificate(EVP_PKEY* subject_key, absl::Time not_before,
                                            absl::Time not_after) {
  tls::X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslFailure("cannot start a certificate");
  }
  KF_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  KF_RETURN_IF_ERROR(SetTime(X509_getm_notBefore(cert.get()), not_before));
  KF_RETURN_IF_ERROR(SetTime(X509_getm_notAfter(cert.get()), not_after));
  return cert;
}

absl::Status SetSubjectCommonName(X509* cert, const std::string& common_name) {
  if (common_name.empty() || common_name.size() > tls::kMaxCommonNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a common name of ", common_name.size(),
                                                   " bytes is not allowed (allowed: 1 to ",
                                                   tls::kMaxCommonNameBytes, ")"));
  }
  if (X509_NAME_add_entry_by_NID(X509_get_subject_name(cert), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslFailure("cannot set the subject name");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtensionFree> extension(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslFailure(absl::StrCat("cannot add the extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status AddSubjectAltNames(X509* cert, const std::vector<SanEntry>& entries, bool critical) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(GENERAL_NAMES_new());
  if (names == nullptr) return OpenSslFailure("cannot build subjectAltName");
  for (const SanEntry& entry : entries) {
    std::unique_ptr<GENERAL_NAME, GeneralNameFree> name(GENERAL_NAME_new());
    if (name == nullptr) return OpenSslFailure("cannot build subjectAltName");
    if (entry.type == GEN_IPADD) {
      ASN1_OCTET_STRING* address = a2i_IPADDRESS(entry.value.c_str());
      if (address == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", entry.value, "\" is not an IPv4 or IPv6 address"));
      }
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
    } else {
      ASN1_IA5STRING* text = ASN1_IA5STRING_new();
      if (text == nullptr ||
          ASN1_STRING_set(text, entry.value.data(), static_cast<int>(entry.value.size())) != 1) {
        ASN1_IA5STRING_free(text);
        return OpenSslFailure("cannot build subjectAltName");
      }
      GENERAL_NAME_set0_value(name.get(), entry.type, text);
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return OpenSslFailure("cannot build subjectAltName");
    }
    name.release();  // owned by `names` now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical ? 1 : 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslFailure("cannot add subjectAltName");
  }
  return absl::OkStatus();
}

absl::Status SignCertificate(X509* cert, X509* issuer, EVP_PKEY* issuer_key) {
  if (X509_set_issuer_name(cert, X509_get_subject_name(issuer)) != 1 ||
      X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign a certificate");
  }
  return absl::OkStatus();
}

absl::StatusOr<NewCa> MakeCa(absl::Time now) {
  KF_ASSIGN_OR_RETURN(tls::EvpPkeyPtr key, tls::GenerateP256Key());
  KF_ASSIGN_OR_RETURN(tls::X509Ptr cert,
                      NewCertificate(key.get(), now - kCaBackdate, now + kCaLifetime));
  // The random suffix tells CAs apart by name too, so an old CA's name never shadows a new one.
  KF_ASSIGN_OR_RETURN(std::string suffix, RandomHex(4));
  KF_RETURN_IF_ERROR(SetSubjectCommonName(cert.get(), absl::StrCat("keyfleet CA ", suffix)));
  KF_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  KF_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  KF_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  KF_RETURN_IF_ERROR(SignCertificate(cert.get(), cert.get(), key.get()));
  NewCa ca;
  KF_ASSIGN_OR_RETURN(ca.key_pem, tls::PrivateKeyToPem(key.get()));
  KF_ASSIGN_OR_RETURN(ca.cert_pem, tls::CertificateToPem(cert.get()));
  return ca;
}

}  // namespace keyfleet::controller
