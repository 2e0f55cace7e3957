#include "common/ssh_certificate.h"

#include "absl/strings/str_cat.h"
#include "common/ssh_signature.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

constexpr uint32_t kUserCertificate = 1;  // SSH2_CERT_TYPE_USER
constexpr uint32_t kHostCertificate = 2;  // SSH2_CERT_TYPE_HOST

// Critical options and extensions are a sequence of (string name, string data) pairs.
absl::Status CheckOptionSection(absl::string_view section, absl::string_view what) {
  WireReader r(section);
  while (!r.AtEnd()) {
    KF_RETURN_IF_ERROR(r.ReadString(what).status());
    KF_RETURN_IF_ERROR(r.ReadString(what).status());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseCertificateBody(WireReader& r, absl::string_view whole_blob,
                                  CertificateInfo* info) {
  KF_ASSIGN_OR_RETURN(info->serial, r.ReadU64("certificate serial"));
  KF_ASSIGN_OR_RETURN(info->cert_type, r.ReadU32("certificate type"));
  KF_ASSIGN_OR_RETURN(absl::string_view key_id, r.ReadCString("certificate key id"));
  KF_ASSIGN_OR_RETURN(absl::string_view principals, r.ReadString("certificate principals"));
  KF_ASSIGN_OR_RETURN(info->valid_after, r.ReadU64("certificate valid-after"));
  KF_ASSIGN_OR_RETURN(info->valid_before, r.ReadU64("certificate valid-before"));
  KF_ASSIGN_OR_RETURN(absl::string_view critical, r.ReadString("certificate critical options"));
  KF_ASSIGN_OR_RETURN(absl::string_view extensions, r.ReadString("certificate extensions"));
  KF_RETURN_IF_ERROR(r.ReadString("certificate reserved field").status());
  KF_ASSIGN_OR_RETURN(absl::string_view ca_blob, r.ReadString("certificate CA key"));
  const size_t signed_length = r.Position();
  KF_ASSIGN_OR_RETURN(absl::string_view signature, r.ReadString("certificate signature"));

  if (info->cert_type != kUserCertificate && info->cert_type != kHostCertificate) {
    return absl::InvalidArgumentError(absl::StrCat("certificate type is ", info->cert_type,
                                                   "; only 1 (user) and 2 (host) exist"));
  }
  info->key_id = std::string(key_id);
  WireReader pr(principals);
  while (!pr.AtEnd()) {
    if (info->principals.size() >= kMaxCertificatePrincipals) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate has more than ", kMaxCertificatePrincipals, " principals"));
    }
    KF_ASSIGN_OR_RETURN(absl::string_view principal, pr.ReadCString("certificate principal"));
    info->principals.emplace_back(principal);
  }
  KF_RETURN_IF_ERROR(CheckOptionSection(critical, "certificate critical options"));
  KF_RETURN_IF_ERROR(CheckOptionSection(extensions, "certificate extensions"));

  auto ca = ParsePlainPublicKeyBlob(ca_blob);
  if (!ca.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate CA key is invalid: ", ca.status().message()));
  }
  info->signature_key_type = ca->type;
  info->signature_key_blob = std::string(ca_blob);
  absl::Status verified = VerifySshSignature(*ca, signature, whole_blob.substr(0, signed_length));
  if (!verified.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate signature does not verify: ", verified.message()));
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
