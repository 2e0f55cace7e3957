// The CA directory: creating, loading and rotating the CA (layout in certificate_authority.h).
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/types.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/secure_file.h"
#include "controller/ca/certificate_authority.h"
#include "controller/ca/certificate_builder.h"

namespace keyfleet::controller {
namespace {

constexpr mode_t kDirMode = 0700;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;

std::string PathOf(const std::string& dir, const char* name) {
  return absl::StrCat(dir, "/", name);
}

struct LoadedCert {
  std::string pem;
  tls::X509Ptr cert;
};

struct LoadedPair {
  std::string key_pem;  // kept only to move a staged key into place; never logged
  tls::EvpPkeyPtr key;
  LoadedCert cert;
};

absl::StatusOr<LoadedCert> LoadCaCert(const std::string& dir, const char* name) {
  const std::string path = PathOf(dir, name);
  LoadedCert loaded;
  KF_ASSIGN_OR_RETURN(loaded.pem, tls::ReadPublicFile(path, kMaxCaFileBytes));
  absl::StatusOr<tls::X509Ptr> cert = tls::ParseCertificatePem(loaded.pem);
  if (!cert.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", cert.status().message()));
  }
  if ((X509_get_extension_flags(cert->get()) & EXFLAG_CA) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a CA certificate (no basicConstraints CA:TRUE)"));
  }
  loaded.cert = *std::move(cert);
  return loaded;
}

absl::StatusOr<LoadedPair> LoadKeyAndCert(const std::string& dir, const char* key_name,
                                          const char* cert_name) {
  const std::string key_path = PathOf(dir, key_name);
  LoadedPair loaded;
  KF_ASSIGN_OR_RETURN(loaded.key_pem, tls::ReadSecretFile(key_path, kMaxCaFileBytes));
  absl::StatusOr<tls::EvpPkeyPtr> key = tls::ParsePrivateKeyPem(loaded.key_pem);
  if (!key.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(key_path, ": ", key.status().message()));
  }
  loaded.key = *std::move(key);
  KF_ASSIGN_OR_RETURN(loaded.cert, LoadCaCert(dir, cert_name));
  if (EVP_PKEY_eq(X509_get0_pubkey(loaded.cert.cert.get()), loaded.key.get()) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(key_path, " is not the key of ", PathOf(dir, cert_name),
                     " (if an ActivateNext was interrupted, run it again to complete it)"));
  }
  return loaded;
}

}  // namespace

absl::Status CertificateAuthority::Create(const std::string& dir, absl::Time now) {
  KF_RETURN_IF_ERROR(tls::EnsurePrivateDirectory(dir, kDirMode));
  for (const char* name : {kCaKeyFile, kCaCertFile}) {
    KF_ASSIGN_OR_RETURN(const bool exists, tls::FileExists(dir, name));
    if (exists) {
      return absl::AlreadyExistsError(
          absl::StrCat(PathOf(dir, name), " already exists; refusing to replace a CA (rotate it ",
                       "with StageNext, ActivateNext and RetirePrevious instead)"));
    }
  }
  KF_ASSIGN_OR_RETURN(NewCa ca, MakeCa(now));
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir, kCaKeyFile, ca.key_pem, kKeyMode));
  return tls::WriteFileAtomically(dir, kCaCertFile, ca.cert_pem, kCertMode);
}

absl::Status CertificateAuthority::StageNext(const std::string& dir, absl::Time now) {
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> current = Load(dir);
  if (!current.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stage a new CA in ", dir,
                     " without a working signing CA: ", current.status().message()));
  }
  for (const char* name : {kNextKeyFile, kNextCertFile}) {
    KF_ASSIGN_OR_RETURN(const bool exists, tls::FileExists(dir, name));
    if (exists) {
      return absl::FailedPreconditionError(
          absl::StrCat(PathOf(dir, name), " exists: a CA is already staged (ActivateNext it, ",
                       "or remove next.key and next.crt to stage another)"));
    }
  }
  KF_ASSIGN_OR_RETURN(NewCa ca, MakeCa(now));
  // The key first: a next.crt is trusted as soon as it appears, and must have its key.
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir, kNextKeyFile, ca.key_pem, kKeyMode));
  return tls::WriteFileAtomically(dir, kNextCertFile, ca.cert_pem, kCertMode);
}

absl::Status CertificateAuthority::ActivateNext(const std::string& dir) {
  KF_ASSIGN_OR_RETURN(const bool has_next_key, tls::FileExists(dir, kNextKeyFile));
  KF_ASSIGN_OR_RETURN(const bool has_next_cert, tls::FileExists(dir, kNextCertFile));
  KF_ASSIGN_OR_RETURN(LoadedCert current, LoadCaCert(dir, kCaCertFile));
  if (!has_next_key && has_next_cert) {
    // Left over when an earlier run stopped between removing next.key and next.crt.
    KF_ASSIGN_OR_RETURN(LoadedCert next, LoadCaCert(dir, kNextCertFile));
    if (X509_cmp(next.cert.get(), current.cert.get()) == 0) {
      return tls::RemoveFileIfExists(dir, kNextCertFile).status();
    }
  }
  if (!has_next_key || !has_next_cert) {
    return absl::FailedPreconditionError(absl::StrCat("nothing is staged in ", dir,
                                                      " (it needs both next.key and next.crt); ",
                                                      "run StageNext first"));
  }
  KF_ASSIGN_OR_RETURN(LoadedPair next, LoadKeyAndCert(dir, kNextKeyFile, kNextCertFile));
  // ca.crt is already the staged one when an earlier run got that far; then previous.crt holds
  // the right certificate and must be kept.
  if (X509_cmp(current.cert.get(), next.cert.cert.get()) != 0) {
    KF_ASSIGN_OR_RETURN(const bool has_previous, tls::FileExists(dir, kPreviousCertFile));
    if (has_previous) {
      KF_ASSIGN_OR_RETURN(LoadedCert previous, LoadCaCert(dir, kPreviousCertFile));
      if (X509_cmp(previous.cert.get(), current.cert.get()) != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            PathOf(dir, kPreviousCertFile), " still holds the CA of an earlier rotation; ",
            "run RetirePrevious first (certificates it issued will stop verifying)"));
      }
    }
    KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir, kPreviousCertFile, current.pem, kCertMode));
  }
  // Replacing ca.key by rename drops the old key's only name: the old key is gone.
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir, kCaKeyFile, next.key_pem, kKeyMode));
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir, kCaCertFile, next.cert.pem, kCertMode));
  KF_RETURN_IF_ERROR(tls::RemoveFileIfExists(dir, kNextKeyFile).status());
  return tls::RemoveFileIfExists(dir, kNextCertFile).status();
}

absl::Status CertificateAuthority::RetirePrevious(const std::string& dir) {
  KF_ASSIGN_OR_RETURN(const bool removed, tls::RemoveFileIfExists(dir, kPreviousCertFile));
  if (!removed) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " has no previous.crt: there is no retired CA to stop trusting"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Load(
    const std::string& dir) {
  KF_ASSIGN_OR_RETURN(LoadedPair signing, LoadKeyAndCert(dir, kCaKeyFile, kCaCertFile));
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->signing_key_ = std::move(signing.key);
  ca->signing_cert_.reset(X509_dup(signing.cert.cert.get()));
  if (ca->signing_cert_ == nullptr) return absl::InternalError("out of memory");
  // Re-encoded, as the trust bundle below, so chains are clean PEM whatever the file held.
  KF_ASSIGN_OR_RETURN(ca->signing_cert_pem_, tls::CertificateToPem(ca->signing_cert_.get()));
  std::vector<LoadedCert> trusted;
  trusted.push_back(std::move(signing.cert));
  for (const char* name : {kNextCertFile, kPreviousCertFile}) {
    KF_ASSIGN_OR_RETURN(const bool exists, tls::FileExists(dir, name));
    if (!exists) continue;
    KF_ASSIGN_OR_RETURN(LoadedCert cert, LoadCaCert(dir, name));
    // An interrupted ActivateNext can leave the same CA under two names; trust it once.
    bool duplicate = false;
    for (const LoadedCert& known : trusted) {
      duplicate = duplicate || X509_cmp(known.cert.get(), cert.cert.get()) == 0;
    }
    if (!duplicate) trusted.push_back(std::move(cert));
  }
  for (LoadedCert& cert : trusted) {
    ca->trusted_pins_.push_back(tls::PinOf(cert.cert.get()));
    KF_ASSIGN_OR_RETURN(std::string pem, tls::CertificateToPem(cert.cert.get()));
    ca->trust_bundle_pem_ += pem;
    ca->trusted_.push_back(std::move(cert.cert));
  }
  return ca;
}

}  // namespace keyfleet::controller
