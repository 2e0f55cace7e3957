// Certificate PEM: strict parsing of CERTIFICATE blocks, bundles, and what a certificate says.
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/x509.h"

namespace keyfleet::tls {
namespace {

constexpr absl::string_view kBeginCertificate = "-----BEGIN CERTIFICATE-----";
constexpr absl::string_view kEndCertificate = "-----END CERTIFICATE-----";
constexpr absl::string_view kPemDashes = "-----";
constexpr absl::string_view kAnyBegin = "-----BEGIN ";

struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct BignumFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};

absl::string_view SkipWhitespace(absl::string_view text) {
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  return text;
}

// What stands where a certificate block was expected, without echoing the text itself: a bundle
// passed by mistake may be a private key file.
std::string DescribeUnexpected(absl::string_view text) {
  if (text.empty()) return "the end of the input";
  if (absl::StartsWith(text, kAnyBegin)) {
    // Only a plausible label line is quoted; anything longer might be more than a label.
    const size_t end = text.find(kPemDashes, kAnyBegin.size());
    if (end != absl::string_view::npos && end < 80) {
      return absl::StrCat("a \"", text.substr(0, end + kPemDashes.size()), "\" block");
    }
  }
  return "other text";
}

// Parses the certificate block at the start of `*rest` (after whitespace) and advances `*rest`
// past it. `position` (the offset of `*rest` in the whole input) and `index` (1-based) only make
// messages precise.
absl::StatusOr<X509Ptr> ReadCertificateBlock(absl::string_view* rest, size_t* position,
                                             size_t index) {
  const absl::string_view start = SkipWhitespace(*rest);
  *position += rest->size() - start.size();
  const std::string where = absl::StrCat("certificate ", index, " (at byte ", *position, ")");
  if (!absl::StartsWith(start, kBeginCertificate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected \"", kBeginCertificate, "\" at byte ", *position, " but found ",
        DescribeUnexpected(start), " (allowed: PEM CERTIFICATE blocks separated by whitespace)"));
  }
  const size_t end = start.find(kEndCertificate, kBeginCertificate.size());
  if (end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has no \"", kEndCertificate, "\" line"));
  }
  const size_t block_size = end + kEndCertificate.size();
  // PEM_read_bio wants the END line terminated.
  const std::string block = absl::StrCat(start.substr(0, block_size), "\n");
  BioPtr bio = ReadOnlyBio(block);
  char* raw_name = nullptr;
  char* raw_header = nullptr;
  unsigned char* raw_der = nullptr;
  long der_size = 0;
  const int read =
      bio == nullptr ? 0 : PEM_read_bio(bio.get(), &raw_name, &raw_header, &raw_der, &der_size);
  std::unique_ptr<char, OpenSslFree> name(raw_name), header(raw_header);
  std::unique_ptr<unsigned char, OpenSslFree> der(raw_der);
  if (read != 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is not valid PEM: ", OpenSslErrors()));
  }
  if (header != nullptr && header.get()[0] != '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has PEM headers (allowed: none, only base64 DER)"));
  }
  const unsigned char* cursor = der.get();
  X509Ptr cert(d2i_X509(nullptr, &cursor, der_size));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is not a DER X.509 certificate: ", OpenSslErrors()));
  }
  if (cursor != der.get() + der_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has ", der.get() + der_size - cursor,
                     " bytes after the certificate's DER (allowed: none)"));
  }
  rest->remove_prefix(rest->size() - start.size() + block_size);
  *position += block_size;
  return cert;
}

std::string IpAddressText(const ASN1_OCTET_STRING* address) {
  const unsigned char* bytes = ASN1_STRING_get0_data(address);
  const int size = ASN1_STRING_length(address);
  char text[INET6_ADDRSTRLEN] = {};
  const int family = size == 4 ? AF_INET : size == 16 ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC || inet_ntop(family, bytes, text, sizeof(text)) == nullptr) return "";
  return text;
}

std::string Asn1Text(const ASN1_STRING* text) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<size_t>(ASN1_STRING_length(text)));
}

absl::Status AddSubjectAltNames(X509* cert, CertificateInfo* info) {
  int critical = 0;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (names == nullptr) {
    // -1: no subjectAltName at all, which is fine; otherwise it is duplicated or undecodable.
    if (critical == -1) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "the certificate's subjectAltName extension is duplicated or cannot be decoded");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
        info->dns_names.push_back(Asn1Text(name->d.dNSName));
        break;
      case GEN_URI:
        info->uris.push_back(Asn1Text(name->d.uniformResourceIdentifier));
        break;
      case GEN_IPADD: {
        std::string address = IpAddressText(name->d.iPAddress);
        if (address.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("the certificate has an iPAddress name of ",
                           ASN1_STRING_length(name->d.iPAddress), " bytes (allowed: 4 or 16)"));
        }
        info->ip_addresses.push_back(std::move(address));
        break;
      }
      default:  // e-mail and directory names play no part in keyfleet's identities
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem) {
  size_t position = 0;
  return ReadCertificateBlock(&pem, &position, 1);
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return absl::InternalError(absl::StrCat("cannot encode a certificate: ", OpenSslErrors()));
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::vector<std::string>> SplitCertificatesPem(absl::string_view pem) {
  std::vector<std::string> certificates;
  size_t position = 0;
  if (SkipWhitespace(pem).empty()) {
    return absl::InvalidArgumentError(
        "the certificate bundle is empty (expected at least one PEM CERTIFICATE block)");
  }
  while (!SkipWhitespace(pem).empty()) {
    if (certificates.size() == kMaxBundleCertificates) {
      return absl::InvalidArgumentError(absl::StrCat("the certificate bundle has more than ",
                                                     kMaxBundleCertificates, " certificates"));
    }
    KF_ASSIGN_OR_RETURN(X509Ptr cert,
                        ReadCertificateBlock(&pem, &position, certificates.size() + 1));
    KF_ASSIGN_OR_RETURN(std::string one, CertificateToPem(cert.get()));
    certificates.push_back(std::move(one));
  }
  return certificates;
}

absl::StatusOr<CertificateInfo> DescribeCertificate(X509* cert) {
  CertificateInfo info;
  X509_NAME* subject = X509_get_subject_name(cert);
  const int cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn_index >= 0) {
    unsigned char* utf8 = nullptr;
    const int size = ASN1_STRING_to_UTF8(
        &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index)));
    if (size < 0) {
      return absl::InvalidArgumentError("the certificate's common name cannot be read as text");
    }
    info.common_name.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(size));
    OPENSSL_free(utf8);
  }
  KF_RETURN_IF_ERROR(AddSubjectAltNames(cert, &info));
  KF_ASSIGN_OR_RETURN(info.not_before, Asn1TimeToAbsl(X509_get0_notBefore(cert)));
  KF_ASSIGN_OR_RETURN(info.not_after, Asn1TimeToAbsl(X509_get0_notAfter(cert)));
  std::unique_ptr<BIGNUM, BignumFree> serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  std::unique_ptr<char, OpenSslFree> serial_hex(serial ? BN_bn2hex(serial.get()) : nullptr);
  if (serial_hex == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the certificate's serial number: ", OpenSslErrors()));
  }
  info.serial_hex = absl::AsciiStrToLower(serial_hex.get());
  info.pin = PinOf(cert);
  // The flags are computed from basicConstraints when OpenSSL caches the extensions.
  info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  return info;
}

absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& pem) {
  KF_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(pem));
  return DescribeCertificate(cert.get());
}

}  // namespace keyfleet::tls
