// X.509 keys, certificates, certificate requests and CA pins, over OpenSSL 3's EVP/X509 APIs.
// Shared by the controller (its CA), the agent (enrollment) and the CLI.
//
// A "pin" identifies a CA by its public key: "sha256:" + lower-case hex SHA-256 of the DER
// SubjectPublicKeyInfo, exactly what `kubeadm join --discovery-token-ca-cert-hash` takes and what
// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum` prints.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls/openssl_util.h"

namespace keyfleet::tls {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct X509ReqFree {
  void operator()(X509_REQ* req) const { X509_REQ_free(req); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509ReqFree>;

inline constexpr char kPinPrefix[] = "sha256:";
inline constexpr size_t kPinHexDigits = 64;
// A CA bundle (trust bundle, presented chain) holds a few certificates; more is a mistake or an
// attack on the parser, not a real bundle.
inline constexpr size_t kMaxBundleCertificates = 32;
// RFC 5280's ub-common-name.
inline constexpr size_t kMaxCommonNameBytes = 64;

// A fresh ECDSA P-256 key.
absl::StatusOr<EvpPkeyPtr> GenerateP256Key();
// A fresh ECDSA P-256 private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
absl::StatusOr<std::string> GenerateKeyPem();
// The private key in `pem` (PKCS#8 or traditional, unencrypted). INVALID_ARGUMENT if there is
// none; the message never contains key material.
absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem);
// `key` as unencrypted PKCS#8 PEM.
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);

// The first certificate of `pem`, which must start (after whitespace) with a
// "-----BEGIN CERTIFICATE-----" block; what follows that block is not looked at.
// INVALID_ARGUMENT otherwise.
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem);
// `cert` as one PEM CERTIFICATE block.
absl::StatusOr<std::string> CertificateToPem(X509* cert);

// Every certificate of a bundle, each re-encoded as its own PEM block. The bundle must consist
// only of PEM CERTIFICATE blocks (no headers, DER without trailing bytes) separated by
// whitespace, at least one and at most kMaxBundleCertificates; INVALID_ARGUMENT otherwise,
// naming what was found where.
absl::StatusOr<std::vector<std::string>> SplitCertificatesPem(absl::string_view pem);

// A PKCS#10 certificate request with subject CN=common_name, carrying the public key of
// `key_pem` and signed with it (SHA-256; pure EdDSA for an Ed25519 key). INVALID_ARGUMENT for an
// unusable key or a common name that is empty or longer than kMaxCommonNameBytes.
absl::StatusOr<std::string> MakeCsrPem(const std::string& key_pem, const std::string& common_name);

struct CertificateInfo {
  std::string common_name;                                 // first CN of the subject, "" if none
  std::vector<std::string> dns_names, ip_addresses, uris;  // subjectAltName entries, in order
  absl::Time not_before, not_after;
  std::string serial_hex;  // lower-case hex in whole bytes, as `openssl x509 -serial` (upper-case)
  std::string pin;         // the CA pin of this certificate's public key
  bool is_ca = false;      // basicConstraints CA:TRUE
};

// What a certificate says about itself (nothing is verified). INVALID_ARGUMENT for extensions or
// times OpenSSL cannot decode.
absl::StatusOr<CertificateInfo> DescribeCertificate(X509* cert);
// DescribeCertificate of the first certificate in `pem` (as ParseCertificatePem reads it).
absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& pem);

// The pin of `cert` ("" only if OpenSSL cannot encode its public key, which a parsed certificate
// never triggers).
std::string PinOf(X509* cert);
// The pin of the first certificate in `pem`.
absl::StatusOr<std::string> CertificatePin(const std::string& pem);
// OK iff `pin` is "sha256:" followed by exactly 64 hex digits (either case); INVALID_ARGUMENT
// saying the expected form otherwise.
absl::Status ValidatePin(absl::string_view pin);

// OK when the first certificate in `cert_pem` is for the private key in `key_pem`;
// INVALID_ARGUMENT otherwise (a reply that would pair a key with someone else's certificate).
absl::Status CheckKeyMatchesCertificate(absl::string_view key_pem, absl::string_view cert_pem);

// `time` (UTCTime or GeneralizedTime) as absl::Time; INVALID_ARGUMENT if OpenSSL cannot read it.
absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* time);

}  // namespace keyfleet::tls
