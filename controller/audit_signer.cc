#include "controller/audit_signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/types.h>

#include "absl/strings/str_cat.h"
#include "common/base64.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/tls/openssl_util.h"
#include "common/tls/secure_file.h"

namespace keyfleet::controller {
namespace {

constexpr mode_t kDirMode = 0700;
constexpr mode_t kKeyMode = 0600;
constexpr char kAllowedKeys[] = "EC P-256";
constexpr char kP256GroupName[] = "prime256v1";

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

const unsigned char* Bytes(absl::string_view data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}

// Overwrites a string that held a private key before its memory is freed.
void Cleanse(std::string* secret) {
  if (!secret->empty()) OPENSSL_cleanse(secret->data(), secret->size());
  secret->clear();
}

// "" when `key` is an EC P-256 key; otherwise what kind of key it is.
std::string NotP256(EVP_PKEY* key) {
  char group[64] = {};
  if (EVP_PKEY_is_a(key, "EC") &&
      EVP_PKEY_get_group_name(key, group, sizeof(group), nullptr) == 1) {
    return absl::string_view(group) == kP256GroupName ? "" : absl::StrCat("EC ", group);
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return type != nullptr ? type : "of an unknown type";
}

// The DER SubjectPublicKeyInfo of `key`.
absl::StatusOr<std::string> PublicKeyDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key, &der);
  if (size <= 0) {
    return absl::InternalError(absl::StrCat("cannot encode a public key: ", tls::OpenSslErrors()));
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string PathOf(const std::string& dir) {
  return absl::StrCat(dir, "/", kAuditKeyFile);
}

}  // namespace

absl::StatusOr<AuditVerifier> AuditVerifier::FromKey(EVP_PKEY* key) {
  if (std::string kind = NotP256(key); !kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the audit key is ", kind, ", which is not allowed (allowed: ", kAllowedKeys, ")"));
  }
  AuditVerifier verifier;
  // Round-tripping through the DER public key leaves the verifier without any private half.
  KF_ASSIGN_OR_RETURN(const std::string der, PublicKeyDer(key));
  const unsigned char* cursor = Bytes(der);
  verifier.public_key_.reset(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  tls::BioPtr pem(BIO_new(BIO_s_mem()));
  if (verifier.public_key_ == nullptr || pem == nullptr ||
      PEM_write_bio_PUBKEY(pem.get(), verifier.public_key_.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot copy the audit public key: ", tls::OpenSslErrors()));
  }
  verifier.key_id_ = absl::StrCat(tls::kPinPrefix, Sha256Hex(der));
  verifier.public_key_pem_ = tls::BioContents(pem.get());
  return verifier;
}

absl::StatusOr<AuditVerifier> AuditVerifier::FromPublicKeyPem(absl::string_view pem) {
  tls::BioPtr bio = tls::ReadOnlyBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("the public key PEM is too large");
  tls::EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no public key in the PEM (expected a \"-----BEGIN PUBLIC KEY-----\" block, "
                     "as `openssl pkey -pubout` writes it): ",
                     tls::OpenSslErrors()));
  }
  return FromKey(key.get());
}

absl::Status AuditVerifier::VerifySignature(const AuditCheckpoint& cp) const {
  if (cp.key_id != key_id_) {
    return absl::FailedPreconditionError(absl::StrCat("audit checkpoint #", cp.id,
                                                      " was signed by key ", cp.key_id,
                                                      ", not by this key ", key_id_));
  }
  auto altered = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "audit checkpoint #", cp.id, " (signed at ",
        absl::FormatTime(kAuditTimeFormat, cp.signed_at, absl::UTCTimeZone()), " by key ", key_id_,
        ") does not verify: ", why, "; the checkpoint was altered after it was signed"));
  };
  if (absl::Status events = ValidateCheckpointEvents(cp.events); !events.ok()) {
    return altered(events.message());
  }
  absl::StatusOr<std::string> signature = Base64DecodeStrict(cp.signature);
  if (!signature.ok()) {
    return altered(absl::StrCat("its signature is not base64: ", signature.status().message()));
  }
  const std::string payload = CheckpointPayload(cp);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, public_key_.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot start verifying a signature: ", tls::OpenSslErrors()));
  }
  // 0 is a wrong signature, a negative value one that is not even DER: both mean altered.
  if (EVP_DigestVerify(ctx.get(), Bytes(*signature), signature->size(), Bytes(payload),
                       payload.size()) != 1) {
    tls::OpenSslErrors();  // clears the queue; the reason is always "bad signature"
    return altered("its signature does not match its content");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AuditSigner>> AuditSigner::Load(const std::string& dir) {
  const std::string path = PathOf(dir);
  KF_ASSIGN_OR_RETURN(std::string pem, tls::ReadSecretFile(path, kMaxAuditKeyFileBytes));
  absl::StatusOr<tls::EvpPkeyPtr> key = tls::ParsePrivateKeyPem(pem);
  Cleanse(&pem);
  if (!key.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", key.status().message()));
  }
  absl::StatusOr<AuditVerifier> verifier = AuditVerifier::FromKey(key->get());
  if (!verifier.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", verifier.status().message()));
  }
  return std::unique_ptr<AuditSigner>(new AuditSigner(*std::move(key), *std::move(verifier)));
}

absl::StatusOr<std::unique_ptr<AuditSigner>> AuditSigner::LoadOrCreate(const std::string& dir,
                                                                       absl::Time now) {
  KF_RETURN_IF_ERROR(tls::EnsurePrivateDirectory(dir, kDirMode));
  KF_ASSIGN_OR_RETURN(const bool exists, tls::FileExists(dir, kAuditKeyFile));
  if (!exists) {
    KF_ASSIGN_OR_RETURN(tls::EvpPkeyPtr key, tls::GenerateP256Key());
    KF_ASSIGN_OR_RETURN(const AuditVerifier verifier, AuditVerifier::FromKey(key.get()));
    KF_ASSIGN_OR_RETURN(std::string key_pem, tls::PrivateKeyToPem(key.get()));
    // PEM readers skip text before the BEGIN line; the comment tells an operator which key id
    // this file is without any tool.
    std::string content =
        absl::StrCat("# keyfleet audit checkpoint signing key ", verifier.key_id(), ", created ",
                     absl::FormatTime(kAuditTimeFormat, now, absl::UTCTimeZone()),
                     ". Keep it out of the database and its backups.\n", key_pem);
    Cleanse(&key_pem);
    // Exclusive: when replicas sharing the directory start together, one key wins and all load
    // it.
    absl::Status written = tls::CreateFileExclusively(dir, kAuditKeyFile, content, kKeyMode);
    Cleanse(&content);
    if (!absl::IsAlreadyExists(written)) KF_RETURN_IF_ERROR(written);
  }
  // Read back what is on disk, so the key in use is exactly the one the file holds.
  return Load(dir);
}

absl::StatusOr<AuditCheckpoint> AuditSigner::Sign(CheckpointEvents events, absl::Time at) const {
  KF_RETURN_IF_ERROR(ValidateCheckpointEvents(events));
  AuditCheckpoint cp;
  cp.signed_at = absl::FromUnixMicros(absl::ToUnixMicros(at));
  cp.key_id = key_id();
  cp.events = std::move(events);
  const std::string payload = CheckpointPayload(cp);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t size = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, private_key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, Bytes(payload), payload.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot sign an audit checkpoint: ", tls::OpenSslErrors()));
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     Bytes(payload), payload.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot sign an audit checkpoint: ", tls::OpenSslErrors()));
  }
  signature.resize(size);  // an ECDSA signature's DER is often shorter than the maximum
  cp.signature = Base64Encode(signature);
  return cp;
}

absl::Status AuditSigner::VerifySignature(const AuditCheckpoint& cp) const {
  return verifier_.VerifySignature(cp);
}

}  // namespace keyfleet::controller
