// Building and signing X.509v3 certificates for the controller's CA (certificate_authority.h).
// Internal to keyfleet_ca.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls/x509.h"

namespace keyfleet::controller {

// One subjectAltName entry: type is GEN_DNS, GEN_IPADD (value an IPv4/IPv6 literal) or GEN_URI.
struct SanEntry {
  int type;
  std::string value;
};

// A v3 certificate for `subject_key` with a random 128-bit serial and the given validity; no
// names or extensions yet.
absl::StatusOr<tls::X509Ptr> NewCertificate(EVP_PKEY* subject_key, absl::Time not_before,
                                            absl::Time not_after);

// Sets the subject to CN=`common_name` (at most tls::kMaxCommonNameBytes).
absl::Status SetSubjectCommonName(X509* cert, const std::string& common_name);

// Adds the extension `nid` written in OpenSSL's config syntax (e.g. "critical,CA:FALSE").
// `issuer` is consulted for authorityKeyIdentifier; pass `cert` itself when self-signed.
absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value);

// Adds one subjectAltName extension holding `entries`, built value by value rather than through
// the config syntax, so a name can never smuggle in another entry.
absl::Status AddSubjectAltNames(X509* cert, const std::vector<SanEntry>& entries, bool critical);

// Sets the issuer name to `issuer`'s subject and signs with `issuer_key` (SHA-256).
absl::Status SignCertificate(X509* cert, X509* issuer, EVP_PKEY* issuer_key);

struct NewCa {
  std::string key_pem;
  std::string cert_pem;
};

// A fresh self-signed signing CA as CertificateAuthority::Create describes it.
absl::StatusOr<NewCa> MakeCa(absl::Time now);

// `bytes` random bytes from OpenSSL's CSPRNG, as lower-case hex.
absl::StatusOr<std::string> RandomHex(size_t bytes);

}  // namespace keyfleet::controller
