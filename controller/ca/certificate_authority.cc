// Issuing and verifying certificates. The CA directory and rotation are in ca_files.cc.
#include "controller/ca/certificate_authority.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "controller/ca/certificate_builder.h"

namespace keyfleet::controller {
namespace {

constexpr char kServerCommonName[] = "keyfleet-controller";
constexpr char kAllowedClientKeys[] = "EC P-256, EC P-384, Ed25519";
constexpr size_t kMaxDnsLabelBytes = 63;
constexpr absl::Duration kServerBackdate = absl::Hours(1);
// Client certificates start a little before issuance, for clients whose clock is behind; at most
// a tenth of their life, so that "renew after two thirds" stays after issuance for short lives.
constexpr absl::Duration kMaxClientBackdate = absl::Minutes(5);
constexpr char kNoCertificateOrToken[] = "admin calls need an admin certificate or a token";

bool IsIpLiteral(const std::string& name) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

// A DNS name of letters, digits and hyphens (RFC 1123 labels), no trailing dot or wildcard.
absl::Status ValidateDnsName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxHostnameBytes;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    ok = ok && !label.empty() && label.size() <= kMaxDnsLabelBytes && label.front() != '-' &&
         label.back() != '-';
    for (char c : label)
      ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", absl::CHexEscape(name), "\" is neither an IP address nor a DNS name (allowed: ",
      "IPv4/IPv6 literals, or dot-separated labels of 1 to 63 letters, digits and inner hyphens, ",
      "at most 253 bytes)"));
}

std::string KeyDescription(EVP_PKEY* key) {
  char group[64] = {};
  if (EVP_PKEY_is_a(key, "EC") &&
      EVP_PKEY_get_group_name(key, group, sizeof(group), nullptr) == 1) {
    return absl::StrCat("EC ", group);
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return absl::StrCat(type != nullptr ? type : "unknown", "-", EVP_PKEY_get_bits(key));
}

absl::Status CheckClientKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return absl::OkStatus();
  char group[64] = {};
  if (EVP_PKEY_is_a(key, "EC") &&
      EVP_PKEY_get_group_name(key, group, sizeof(group), nullptr) == 1 &&
      (absl::string_view(group) == "prime256v1" || absl::string_view(group) == "secp384r1")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the certificate request's key is ", KeyDescription(key),
                   ", which is not allowed (allowed: ", kAllowedClientKeys, ")"));
}

// The trusted CA the verified chain ends in.
std::string AnchorPin(X509_STORE_CTX* ctx) {
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  const int size = chain == nullptr ? 0 : sk_X509_num(chain);
  return size == 0 ? "" : tls::PinOf(sk_X509_value(chain, size - 1));
}

std::string TimeOf(const ASN1_TIME* time) {
  absl::StatusOr<absl::Time> converted = tls::Asn1TimeToAbsl(time);
  return converted.ok() ? absl::FormatTime(absl::RFC3339_sec, *converted, absl::UTCTimeZone())
                        : "an unreadable time";
}

// Why X509_verify_cert refused, as UNAUTHENTICATED.
absl::Status VerifyFailure(X509_STORE_CTX* ctx, const std::vector<std::string>& trusted_pins) {
  const int error = X509_STORE_CTX_get_error(ctx);
  X509* failed = X509_STORE_CTX_get_current_cert(ctx);
  const std::string whose = X509_STORE_CTX_get_error_depth(ctx) == 0
                                ? "the client certificate"
                                : "the CA certificate that issued the client certificate";
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::UnauthenticatedError(absl::StrCat(
          whose, " expired at ", failed != nullptr ? TimeOf(X509_get0_notAfter(failed)) : "?"));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::UnauthenticatedError(absl::StrCat(
          whose, " is not valid until ",
          failed != nullptr ? TimeOf(X509_get0_notBefore(failed)) : "?", "; check the clocks"));
    case X509_V_ERR_INVALID_PURPOSE:
      return absl::UnauthenticatedError(
          "the presented certificate is not a TLS client certificate (its key usage or extended "
          "key usage does not allow client authentication)");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return absl::UnauthenticatedError(absl::StrCat(
          "the client certificate was not issued by a trusted keyfleet CA (trusted: ",
          absl::StrJoin(trusted_pins, ", "), "): ", X509_verify_cert_error_string(error)));
    default:
      return absl::UnauthenticatedError(absl::StrCat("the client certificate does not verify: ",
                                                     X509_verify_cert_error_string(error)));
  }
}

// NAME and ID of a URI SAN PREFIX+NAME/ID, each part checked by its validator; otherwise an
// error whose message says why `uri` is not one, for the caller to wrap.
using PartValidator = absl::Status (*)(absl::string_view);
absl::StatusOr<std::pair<std::string, std::string>> ParseIdentityUri(absl::string_view uri,
                                                                     absl::string_view prefix,
                                                                     absl::string_view whose,
                                                                     PartValidator validate_name,
                                                                     PartValidator validate_id) {
  if (!absl::StartsWith(uri, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("its URI SAN \"", absl::CHexEscape(uri), "\" is not ", whose));
  }
  const std::vector<std::string> parts = absl::StrSplit(uri.substr(prefix.size()), '/');
  std::string problems;
  if (parts.size() == 2) {
    for (const absl::Status& status : {validate_name(parts[0]), validate_id(parts[1])}) {
      if (!status.ok()) absl::StrAppend(&problems, ": ", status.message());
    }
  }
  if (parts.size() != 2 || !problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("its URI SAN \"", absl::CHexEscape(uri), "\" is malformed", problems));
  }
  return std::make_pair(parts[0], parts[1]);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseHostUri(absl::string_view uri) {
  return ParseIdentityUri(uri, kHostUriPrefix, "a host's", ValidateHostname, ValidateEnrollmentId);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseAdminUri(absl::string_view uri) {
  return ParseIdentityUri(uri, kAdminUriPrefix, "an admin's", ValidateCredentialName,
                          ValidateCredentialId);
}

}  // namespace

absl::Status ValidateEnrollmentId(absl::string_view enrollment_id) {
  bool ok = enrollment_id.size() >= kMinEnrollmentIdBytes &&
            enrollment_id.size() <= kMaxEnrollmentIdBytes;
  for (char c : enrollment_id) ok = ok && (absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z'));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("enrollment id \"", absl::CHexEscape(enrollment_id.substr(0, 80)),
                   "\" is not allowed (allowed: ", kMinEnrollmentIdBytes, " to ",
                   kMaxEnrollmentIdBytes, " lower-case letters and digits)"));
}

absl::Status ValidateCredentialName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxCredentialNameBytes &&
            absl::ascii_isalnum(static_cast<unsigned char>(name.front()));
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                c == '@' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("credential name \"", absl::CHexEscape(name.substr(0, 80)),
                   "\" is not allowed (allowed: 1 to ", kMaxCredentialNameBytes,
                   " letters, digits, '.', '_', '@' and '-', starting with a letter or digit)"));
}

absl::Status ValidateCredentialId(absl::string_view credential_id) {
  bool ok = credential_id.size() == kCredentialIdHexDigits;
  for (char c : credential_id) ok = ok && (absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "credential id \"", absl::CHexEscape(credential_id.substr(0, 80)),
      "\" is not allowed (allowed: exactly ", kCredentialIdHexDigits, " lower-case hex digits)"));
}

absl::StatusOr<IssuedKeyPair> CertificateAuthority::IssueServerCertificate(
    const std::vector<std::string>& names, absl::Time now, absl::Duration lifetime) const {
  if (names.empty()) {
    return absl::InvalidArgumentError(
        "a server certificate needs at least one DNS name or IP address to be reached by");
  }
  if (lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate lifetime ", absl::FormatDuration(lifetime), " is not allowed (must be > 0)"));
  }
  std::vector<SanEntry> sans;
  for (const std::string& name : names) {
    if (IsIpLiteral(name)) {
      sans.push_back({GEN_IPADD, name});
    } else {
      KF_RETURN_IF_ERROR(ValidateDnsName(name));
      sans.push_back({GEN_DNS, name});
    }
  }
  KF_ASSIGN_OR_RETURN(tls::EvpPkeyPtr key, tls::GenerateP256Key());
  KF_ASSIGN_OR_RETURN(tls::X509Ptr cert,
                      NewCertificate(key.get(), now - kServerBackdate, now + lifetime));
  X509* leaf = cert.get();
  X509* issuer = signing_cert_.get();
  KF_RETURN_IF_ERROR(SetSubjectCommonName(leaf, kServerCommonName));
  KF_RETURN_IF_ERROR(AddSubjectAltNames(leaf, sans, /*critical=*/false));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_key_usage, "critical,digitalSignature"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_ext_key_usage, "serverAuth"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_subject_key_identifier, "hash"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_authority_key_identifier, "keyid:always"));
  KF_RETURN_IF_ERROR(SignCertificate(leaf, issuer, signing_key_.get()));
  IssuedKeyPair issued;
  KF_ASSIGN_OR_RETURN(issued.key_pem, tls::PrivateKeyToPem(key.get()));
  KF_ASSIGN_OR_RETURN(std::string leaf_pem, tls::CertificateToPem(leaf));
  issued.chain_pem = leaf_pem + signing_cert_pem_;
  return issued;
}

absl::StatusOr<std::string> CertificateAuthority::SignClientCertificate(
    const std::string& csr_pem, const std::string& common_name, const std::string& uri,
    absl::Time now, absl::Duration lifetime) const {
  if (csr_pem.size() > kMaxCsrPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the certificate request is ", csr_pem.size(),
                                                   " bytes (at most ", kMaxCsrPemBytes,
                                                   " allowed)"));
  }
  if (lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate lifetime ", absl::FormatDuration(lifetime), " is not allowed (must be > 0)"));
  }
  tls::BioPtr bio = tls::ReadOnlyBio(csr_pem);
  tls::X509ReqPtr req(bio == nullptr ? nullptr
                                     : PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate request is not a PEM \"CERTIFICATE REQUEST\": ", tls::OpenSslErrors()));
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate request's public key cannot be read: ", tls::OpenSslErrors()));
  }
  // The key type first: verifying the signature of, say, a huge RSA key would cost far more.
  KF_RETURN_IF_ERROR(CheckClientKey(key));
  if (X509_REQ_verify(req.get(), key) != 1) {
    tls::OpenSslErrors();  // clear the queue
    return absl::InvalidArgumentError(
        "the certificate request's signature does not verify (it must be signed by the private "
        "key whose public key it carries)");
  }
  KF_ASSIGN_OR_RETURN(
      tls::X509Ptr cert,
      NewCertificate(key, now - std::min(kMaxClientBackdate, lifetime / 10), now + lifetime));
  X509* leaf = cert.get();
  X509* issuer = signing_cert_.get();
  // RFC 5280 caps a CN at 64 bytes; a longer name (only a hostname can be) leaves the subject
  // empty, and an empty subject requires the SAN to be critical.
  const bool has_subject = common_name.size() <= tls::kMaxCommonNameBytes;
  if (has_subject) KF_RETURN_IF_ERROR(SetSubjectCommonName(leaf, common_name));
  KF_RETURN_IF_ERROR(AddSubjectAltNames(leaf, {{GEN_URI, uri}}, /*critical=*/!has_subject));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_key_usage, "critical,digitalSignature"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_ext_key_usage, "clientAuth"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_subject_key_identifier, "hash"));
  KF_RETURN_IF_ERROR(AddExtension(leaf, issuer, NID_authority_key_identifier, "keyid:always"));
  KF_RETURN_IF_ERROR(SignCertificate(leaf, issuer, signing_key_.get()));
  return tls::CertificateToPem(leaf);
}

absl::StatusOr<CertificateAuthority::VerifiedClient> CertificateAuthority::VerifyClientCertificate(
    const std::string& leaf_pem, absl::Time now, ClientKind kind) const {
  const bool host = kind == ClientKind::kHost;
  if (absl::StripAsciiWhitespace(leaf_pem).empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no client certificate (",
        host ? "a host must present the certificate it got at enrollment" : kNoCertificateOrToken,
        ")"));
  }
  absl::StatusOr<tls::X509Ptr> parsed = tls::ParseCertificatePem(leaf_pem);
  if (!parsed.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the client certificate cannot be parsed: ", parsed.status().message()));
  }
  X509* leaf = parsed->get();
  if (X509_get_extension_flags(leaf) & EXFLAG_CA) {
    return absl::UnauthenticatedError(
        absl::StrCat("the presented certificate is a CA certificate, not ",
                     host ? "a host's" : "an admin's", " client certificate"));
  }
  tls::X509StorePtr store(X509_STORE_new());
  tls::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  bool ready = store != nullptr && ctx != nullptr;
  for (const tls::X509Ptr& ca : trusted_) {
    ready = ready && X509_STORE_add_cert(store.get(), ca.get()) == 1;
  }
  ready = ready && X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) == 1 &&
          X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) == 1;
  if (!ready) {
    return absl::InternalError(
        absl::StrCat("cannot set up certificate verification: ", tls::OpenSslErrors()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(now));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) != 1) {
    tls::OpenSslErrors();  // clear the queue; the store context says why
    return VerifyFailure(ctx.get(), trusted_pins_);
  }
  absl::StatusOr<tls::CertificateInfo> info = tls::DescribeCertificate(leaf);
  if (!info.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("the client certificate is not a keyfleet ",
                                                    host ? "host" : "admin",
                                                    " certificate: ", info.status().message()));
  }
  return VerifiedClient{*std::move(info), AnchorPin(ctx.get())};
}

absl::StatusOr<std::string> CertificateAuthority::SignHostCertificate(
    const std::string& csr_pem, const std::string& hostname, const std::string& enrollment_id,
    absl::Time now, absl::Duration lifetime) const {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  KF_RETURN_IF_ERROR(ValidateEnrollmentId(enrollment_id));
  return SignClientCertificate(
      csr_pem, hostname, absl::StrCat(kHostUriPrefix, hostname, "/", enrollment_id), now, lifetime);
}

absl::StatusOr<std::string> CertificateAuthority::SignAdminCertificate(
    const std::string& csr_pem, const std::string& name, const std::string& credential_id,
    absl::Time now, absl::Duration lifetime) const {
  KF_RETURN_IF_ERROR(ValidateCredentialName(name));
  KF_RETURN_IF_ERROR(ValidateCredentialId(credential_id));
  return SignClientCertificate(
      csr_pem, name, absl::StrCat(kAdminUriPrefix, name, "/", credential_id), now, lifetime);
}

absl::StatusOr<HostIdentity> CertificateAuthority::VerifyHostCertificate(
    const std::string& leaf_pem, absl::Time now) const {
  KF_ASSIGN_OR_RETURN(VerifiedClient verified,
                      VerifyClientCertificate(leaf_pem, now, ClientKind::kHost));
  auto not_host = [](absl::string_view why) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the client certificate is not a keyfleet host certificate: ", why, " (a host ",
        "certificate has exactly one URI SAN, ", kHostUriPrefix, "HOSTNAME/ENROLLMENT_ID)"));
  };
  const std::vector<std::string>& uris = verified.info.uris;
  if (uris.size() != 1) return not_host(absl::StrCat("it has ", uris.size(), " URI SANs"));
  if (absl::StartsWith(uris.front(), kAdminUriPrefix)) {
    // Said outright: an admin pointing an agent at its own certificate should learn why.
    return not_host(absl::StrCat("it is an admin certificate (URI SAN \"",
                                 absl::CHexEscape(uris.front()), "\")"));
  }
  absl::StatusOr<std::pair<std::string, std::string>> parts = ParseHostUri(uris.front());
  if (!parts.ok()) return not_host(parts.status().message());
  HostIdentity identity;
  identity.hostname = std::move(parts->first);
  identity.enrollment_id = std::move(parts->second);
  identity.not_after = verified.info.not_after;
  identity.serial_hex = std::move(verified.info.serial_hex);
  identity.issuer_pin = std::move(verified.issuer_pin);
  return identity;
}

absl::StatusOr<AdminIdentity> CertificateAuthority::VerifyAdminCertificate(
    const std::string& leaf_pem, absl::Time now) const {
  KF_ASSIGN_OR_RETURN(VerifiedClient verified,
                      VerifyClientCertificate(leaf_pem, now, ClientKind::kAdmin));
  auto not_admin = [](absl::string_view why) {
    return absl::PermissionDeniedError(
        absl::StrCat("the client certificate is not a keyfleet admin certificate: ", why,
                     " (an admin certificate has exactly one URI SAN, ", kAdminUriPrefix,
                     "NAME/CREDENTIAL_ID)"));
  };
  const std::vector<std::string>& uris = verified.info.uris;
  if (uris.size() != 1) return not_admin(absl::StrCat("it has ", uris.size(), " URI SANs"));
  if (absl::StatusOr<std::pair<std::string, std::string>> host = ParseHostUri(uris.front());
      host.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the client certificate is not a keyfleet admin certificate: this is host ",
                     PrintableName(host->first), "'s certificate; ", kNoCertificateOrToken));
  }
  absl::StatusOr<std::pair<std::string, std::string>> parts = ParseAdminUri(uris.front());
  if (!parts.ok()) return not_admin(parts.status().message());
  AdminIdentity identity;
  identity.name = std::move(parts->first);
  identity.credential_id = std::move(parts->second);
  identity.not_after = verified.info.not_after;
  identity.serial_hex = std::move(verified.info.serial_hex);
  identity.issuer_pin = std::move(verified.issuer_pin);
  return identity;
}

}  // namespace keyfleet::controller
