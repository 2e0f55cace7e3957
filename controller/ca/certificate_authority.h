// The controller's certificate authority: it issues the gRPC port's server certificate, the
// hosts' client certificates and admins' client certificates, and verifies the client
// certificates hosts and admins present.
//
// A CA directory DIR (created 0700) holds, each file written atomically (common/tls/secure_file.h):
//   ca.key (0600) + ca.crt   the signing CA;
//   next.key + next.crt      optional: a staged CA, trusted but not yet signing;
//   previous.crt             optional: a retired CA, still trusted during an overlap.
// Rotation is three separate operator steps, typically days apart: StageNext (hosts fetch the
// bigger trust bundle), ActivateNext (new certificates come from the new CA; old ones still
// verify), RetirePrevious (certificates of the old CA stop verifying).
//
// Host identities live in a URI SAN: keyfleet://host/HOSTNAME/ENROLLMENT_ID, where HOSTNAME is
// [A-Za-z0-9.-]{1,253} and ENROLLMENT_ID is [a-z0-9]{8,64}. Admin identities likewise:
// keyfleet://admin/NAME/CREDENTIAL_ID, where NAME is [A-Za-z0-9][A-Za-z0-9._@-]{0,63} and
// CREDENTIAL_ID is [0-9a-f]{16}. The certificate only names the credential: its role, expiry and
// revocation are kept with the credential, so callers must look it up on every call.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/host_names.h"
#include "common/tls/x509.h"

namespace keyfleet::controller {

inline constexpr char kCaKeyFile[] = "ca.key";
inline constexpr char kCaCertFile[] = "ca.crt";
inline constexpr char kNextKeyFile[] = "next.key";
inline constexpr char kNextCertFile[] = "next.crt";
inline constexpr char kPreviousCertFile[] = "previous.crt";

inline constexpr char kHostUriPrefix[] = "keyfleet://host/";
inline constexpr size_t kMinEnrollmentIdBytes = 8;
inline constexpr size_t kMaxEnrollmentIdBytes = 64;
inline constexpr char kAdminUriPrefix[] = "keyfleet://admin/";
// Fits a common name (tls::kMaxCommonNameBytes), so an admin certificate always has a subject.
inline constexpr size_t kMaxCredentialNameBytes = 64;
inline constexpr size_t kCredentialIdHexDigits = 16;
// A P-384 or Ed25519 request with a long subject is well under 1 KiB; the cap keeps a hostile
// request from costing more than parsing a small one.
inline constexpr size_t kMaxCsrPemBytes = 16 * 1024;
// Key and certificate files of the CA directory are a few hundred bytes each.
inline constexpr size_t kMaxCaFileBytes = 64 * 1024;
// CA certificates are valid for this long from their creation.
inline constexpr absl::Duration kCaLifetime = absl::Hours(24 * 3652);

struct IssuedKeyPair {
  std::string key_pem;    // PKCS#8; never log it
  std::string chain_pem;  // the leaf, then the signing CA's certificate
};

struct HostIdentity {
  std::string hostname;
  std::string enrollment_id;
  absl::Time not_after;
  std::string serial_hex;  // as tls::CertificateInfo::serial_hex
  std::string issuer_pin;  // pin of the trusted CA the certificate verified against
};

struct AdminIdentity {
  std::string name;           // the credential's name
  std::string credential_id;  // kCredentialIdHexDigits lower-case hex digits
  absl::Time not_after;
  std::string serial_hex;  // as tls::CertificateInfo::serial_hex
  std::string issuer_pin;  // pin of the trusted CA the certificate verified against
};

// OK iff `enrollment_id` matches [a-z0-9]{8,64}; INVALID_ARGUMENT saying what is allowed.
absl::Status ValidateEnrollmentId(absl::string_view enrollment_id);
// OK iff `name` matches [A-Za-z0-9][A-Za-z0-9._@-]{0,63} (people's e-mail addresses fit);
// INVALID_ARGUMENT saying what is allowed.
absl::Status ValidateCredentialName(absl::string_view name);
// OK iff `credential_id` is exactly 16 lower-case hex digits; INVALID_ARGUMENT saying so.
absl::Status ValidateCredentialId(absl::string_view credential_id);

class CertificateAuthority {
 public:
  // Creates DIR (0700, parents as needed) with a new signing CA: ECDSA P-256 key, self-signed
  // X.509v3, subject "CN=keyfleet CA <8 random hex>", random 128-bit serial, valid
  // now-1h .. now+kCaLifetime, basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
  // keyCertSign+cRLSign, subjectKeyIdentifier. ALREADY_EXISTS if DIR/ca.key or DIR/ca.crt
  // exists. Not safe against a concurrent Create of the same DIR.
  static absl::Status Create(const std::string& dir, absl::Time now);

  // Creates next.key/next.crt, a CA made as by Create. FAILED_PRECONDITION if either exists
  // already, or if DIR has no loadable signing CA.
  static absl::Status StageNext(const std::string& dir, absl::Time now);
  // Makes the staged CA the signing CA: the old ca.crt becomes previous.crt, next.key/next.crt
  // become ca.key/ca.crt (the old key is gone), and next.* are removed. FAILED_PRECONDITION if
  // nothing is staged, next.key and next.crt do not match, or previous.crt holds a CA from an
  // earlier rotation that was never retired (RetirePrevious first). If interrupted (Load then
  // reports a mismatched ca.key/ca.crt), running it again completes it.
  static absl::Status ActivateNext(const std::string& dir);
  // Removes previous.crt: certificates issued by it stop verifying. FAILED_PRECONDITION if
  // there is none.
  static absl::Status RetirePrevious(const std::string& dir);

  // Loads the signing CA and every trusted certificate. FAILED_PRECONDITION if ca.key and
  // ca.crt do not match, a certificate is not a CA, or a file is unsafe (e.g. ca.key readable by
  // others: "... (mode 0644); chmod 600 DIR/ca.key"); NOT_FOUND if ca.key or ca.crt is missing.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Load(const std::string& dir);

  const std::string& signing_cert_pem() const { return signing_cert_pem_; }
  // The pin of the signing CA (tls::PinOf).
  std::string pin() const { return trusted_pins_.front(); }
  // The signing, staged (if any) and previous (if any) CA certificates, concatenated PEM.
  const std::string& trust_bundle_pem() const { return trust_bundle_pem_; }
  // Pins of the trust bundle's certificates, in its order.
  std::vector<std::string> trusted_pins() const { return trusted_pins_; }

  // A server key pair for the gRPC port: fresh P-256 key, leaf with CN=keyfleet-controller,
  // one SAN per entry of `names` (an IPv4/IPv6 literal gives an iPAddress SAN, anything else must
  // be a DNS name of letters, digits and hyphens in dot-separated labels of at most 63 bytes,
  // at most 253 bytes in all, and gives a dNSName SAN), EKU serverAuth, keyUsage
  // digitalSignature, validity now-1h .. now+lifetime, random 128-bit serial, SKI and AKI.
  // INVALID_ARGUMENT for an empty list, a bad name, or a non-positive lifetime.
  absl::StatusOr<IssuedKeyPair> IssueServerCertificate(const std::vector<std::string>& names,
                                                       absl::Time now,
                                                       absl::Duration lifetime) const;

  // A host client certificate (PEM) for the public key of `csr_pem`. The request must be at most
  // kMaxCsrPemBytes, carry an EC P-256, EC P-384 or Ed25519 key, and be signed by that key;
  // its subject and extensions are ignored entirely. The certificate has subject CN=hostname
  // (no subject, and a critical SAN, for a hostname longer than the 64 bytes a CN may hold),
  // one URI SAN keyfleet://host/HOSTNAME/ENROLLMENT_ID, EKU clientAuth only, keyUsage
  // digitalSignature, basicConstraints CA:FALSE, validity now-5min .. now+lifetime, a random
  // 128-bit serial, SKI and AKI. INVALID_ARGUMENT for anything else, naming what is allowed.
  absl::StatusOr<std::string> SignHostCertificate(const std::string& csr_pem,
                                                  const std::string& hostname,
                                                  const std::string& enrollment_id, absl::Time now,
                                                  absl::Duration lifetime) const;

  // Verifies a client's leaf certificate (PEM, as gRPC's auth context property "x509_pem_cert"
  // gives it) at `now` against every trusted CA, for TLS client use, and returns the identity
  // in its single URI SAN keyfleet://host/HOSTNAME/ENROLLMENT_ID.
  // UNAUTHENTICATED, with the reason: no certificate, unparsable, not issued by a trusted
  // keyfleet CA, expired (saying when), not yet valid (saying from when), a CA certificate, not
  // a client certificate. PERMISSION_DENIED: valid, but not a host certificate (no URI SAN, more
  // than one, not keyfleet://host/, or a malformed hostname or enrollment id; an admin
  // certificate is refused saying so).
  absl::StatusOr<HostIdentity> VerifyHostCertificate(const std::string& leaf_pem,
                                                     absl::Time now) const;

  // An admin client certificate (PEM) for the public key of `csr_pem`, with the same request
  // rules, validity and extensions as SignHostCertificate, except: subject CN=name and one URI
  // SAN keyfleet://admin/NAME/CREDENTIAL_ID. INVALID_ARGUMENT for a bad request, name
  // (ValidateCredentialName), credential id (ValidateCredentialId) or lifetime.
  absl::StatusOr<std::string> SignAdminCertificate(const std::string& csr_pem,
                                                   const std::string& name,
                                                   const std::string& credential_id, absl::Time now,
                                                   absl::Duration lifetime) const;

  // Verifies an admin's leaf certificate as VerifyHostCertificate does a host's, with the same
  // UNAUTHENTICATED reasons, and returns the identity in its single URI SAN
  // keyfleet://admin/NAME/CREDENTIAL_ID. PERMISSION_DENIED: valid, but not an admin certificate
  // (a host's certificate, saying whose; no URI SAN, more than one, not keyfleet://admin/, or a
  // malformed name or credential id). OK says nothing of the credential's role, expiry or
  // revocation: the caller checks those against the credential_id's row.
  absl::StatusOr<AdminIdentity> VerifyAdminCertificate(const std::string& leaf_pem,
                                                       absl::Time now) const;

 private:
  // Whose client certificate is being issued or verified, for the wording of errors.
  enum class ClientKind { kHost, kAdmin };
  // What a client certificate's verified chain establishes, before its URI SAN is looked at.
  struct VerifiedClient {
    tls::CertificateInfo info;
    std::string issuer_pin;  // the trusted CA the chain ended in
  };

  CertificateAuthority() = default;

  // A client leaf for the key of `csr_pem` with CN=common_name (no subject and a critical SAN
  // when it is longer than a CN may be) and the single URI SAN `uri`, as SignHostCertificate
  // describes. The caller has validated `common_name` and `uri`.
  absl::StatusOr<std::string> SignClientCertificate(const std::string& csr_pem,
                                                    const std::string& common_name,
                                                    const std::string& uri, absl::Time now,
                                                    absl::Duration lifetime) const;
  // Every check of VerifyHostCertificate except those of the URI SAN.
  absl::StatusOr<VerifiedClient> VerifyClientCertificate(const std::string& leaf_pem,
                                                         absl::Time now, ClientKind kind) const;

  tls::EvpPkeyPtr signing_key_;
  tls::X509Ptr signing_cert_;
  std::string signing_cert_pem_;
  std::vector<tls::X509Ptr> trusted_;  // signing, next, previous
  std::string trust_bundle_pem_;
  std::vector<std::string> trusted_pins_;
};

}  // namespace keyfleet::controller
