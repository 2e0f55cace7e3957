// Keys, certificate requests, pins and times. Certificate PEM parsing and inspection are in
// certificate_pem.cc.
#include "common/tls/x509.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace keyfleet::tls {
namespace {

// Never prompt on a terminal for the passphrase of an encrypted key: refuse it instead.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return -1;
}

// EdDSA keys sign the message itself; X509_REQ_sign must then be given no digest.
bool UsesPureSignature(EVP_PKEY* key) {
  return EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) {
    return absl::InternalError(absl::StrCat("cannot generate a P-256 key: ", OpenSslErrors()));
  }
  return key;
}

absl::StatusOr<std::string> GenerateKeyPem() {
  KF_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  return PrivateKeyToPem(key.get());
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem) {
  BioPtr bio = ReadOnlyBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("the private key PEM is too large");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    // OpenSSL's reasons name the failing step ("no start line", "bad decrypt"), never key bytes.
    return absl::InvalidArgumentError(
        absl::StrCat("no usable private key in the PEM (expected an unencrypted "
                     "\"-----BEGIN PRIVATE KEY-----\" block): ",
                     OpenSslErrors()));
  }
  return key;
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  // A secure-heap BIO clears its buffer when it grows or is freed, so no copy of the key is
  // left behind in freed memory apart from the returned string.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot encode a private key: ", OpenSslErrors()));
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> MakeCsrPem(const std::string& key_pem, const std::string& common_name) {
  if (common_name.empty() || common_name.size() > kMaxCommonNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate request's common name is ", common_name.size(),
                     " bytes long (allowed: 1 to ", kMaxCommonNameBytes, ")"));
  }
  KF_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePrivateKeyPem(key_pem));
  X509ReqPtr req(X509_REQ_new());
  if (req == nullptr) return absl::InternalError("out of memory");
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the common name is not valid UTF-8 text: ", OpenSslErrors()));
  }
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot build the certificate request: ", OpenSslErrors()));
  }
  const EVP_MD* digest = UsesPureSignature(key.get()) ? nullptr : EVP_sha256();
  if (X509_REQ_sign(req.get(), key.get(), digest) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot sign a certificate request with this key: ", OpenSslErrors()));
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (out == nullptr || PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot encode the certificate request: ", OpenSslErrors()));
  }
  return BioContents(out.get());
}

std::string PinOf(X509* cert) {
  unsigned char* der = nullptr;
  const int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (size <= 0) return "";
  std::string pin = absl::StrCat(
      kPinPrefix, Sha256Hex(absl::string_view(reinterpret_cast<const char*>(der), size)));
  OPENSSL_free(der);
  return pin;
}

absl::StatusOr<std::string> CertificatePin(const std::string& pem) {
  KF_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(pem));
  std::string pin = PinOf(cert.get());
  if (pin.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode the certificate's public key: ", OpenSslErrors()));
  }
  return pin;
}

absl::Status ValidatePin(absl::string_view pin) {
  const absl::string_view digits = absl::StripPrefix(pin, kPinPrefix);
  bool ok = digits.size() != pin.size() && digits.size() == kPinHexDigits;
  for (char c : digits) ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("\"", absl::CHexEscape(pin.substr(0, 80)),
                                                 "\" is not a CA pin (expected ", kPinPrefix,
                                                 " followed by ", kPinHexDigits,
                                                 " hex digits, the SHA-256 of the CA's public key, "
                                                 "as kubeadm's --discovery-token-ca-cert-hash)"));
}

absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* time) {
  struct tm parts = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate has an unreadable validity time: ", OpenSslErrors()));
  }
  return absl::FromTimeT(timegm(&parts));
}

absl::Status CheckKeyMatchesCertificate(absl::string_view key_pem, absl::string_view cert_pem) {
  KF_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePrivateKeyPem(key_pem));
  KF_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) != 1) {
    return absl::InvalidArgumentError("the certificate is not for this private key");
  }
  return absl::OkStatus();
}

}  // namespace keyfleet::tls
