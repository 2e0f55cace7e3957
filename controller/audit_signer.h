// The key that signs audit checkpoints (audit_checkpoint.h). It lives in the controller's CA
// directory, never in PostgreSQL, so that write access to the database is not enough to forge
// a checkpoint.
//
//   DIR/audit.key (0600)  ECDSA P-256 private key, PKCS#8 PEM, written atomically
//                         (common/tls/secure_file.h), preceded by a comment line saying when it
//                         was created and its key id.
//
// A key id is "sha256:" + lower-case hex SHA-256 of the DER SubjectPublicKeyInfo (the same form
// as a CA pin, tls::PinOf): `openssl pkey -in audit.key -pubout -outform der | sha256sum`.
// After a key rotation, checkpoints of the old key still verify with an AuditVerifier made from
// its public key (public_key_pem() of the old signer, kept by the operator).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls/x509.h"
#include "controller/audit_checkpoint.h"

namespace keyfleet::controller {

inline constexpr char kAuditKeyFile[] = "audit.key";
// A P-256 PKCS#8 PEM is about 250 bytes; anything near this is not an audit key.
inline constexpr size_t kMaxAuditKeyFileBytes = 64 * 1024;

// Checks checkpoint signatures against one public key. Movable, not copyable.
class AuditVerifier {
 public:
  // The verifier for the ECDSA P-256 public key in `pem` ("-----BEGIN PUBLIC KEY-----").
  // INVALID_ARGUMENT if there is none or it is another kind of key (allowed: EC P-256).
  static absl::StatusOr<AuditVerifier> FromPublicKeyPem(absl::string_view pem);

  AuditVerifier(AuditVerifier&&) = default;
  AuditVerifier& operator=(AuditVerifier&&) = default;

  const std::string& key_id() const { return key_id_; }
  // The public key as PEM ("-----BEGIN PUBLIC KEY-----"): what to keep to trust this key later.
  const std::string& public_key_pem() const { return public_key_pem_; }

  // OK iff `cp.key_id` is this key's id, `cp.events` is well-formed (ValidateCheckpointEvents)
  // and `cp.signature` is canonical base64 of a valid signature over CheckpointPayload(cp).
  // FAILED_PRECONDITION when the checkpoint names another key (saying which key signed it and
  // which one this is); DATA_LOSS for anything else (the checkpoint was altered).
  absl::Status VerifySignature(const AuditCheckpoint& cp) const;

 private:
  friend class AuditSigner;
  // `key` (a P-256 key; a private key is used for its public half only).
  static absl::StatusOr<AuditVerifier> FromKey(EVP_PKEY* key);
  AuditVerifier() = default;

  tls::EvpPkeyPtr public_key_;
  std::string key_id_;
  std::string public_key_pem_;
};

// Signs checkpoints with the audit key. One instance per controller process, passed to whoever
// appends audit events; const methods are safe to call from several threads.
class AuditSigner {
 public:
  // Loads DIR/audit.key, creating DIR (0700, as the CA directory) and a new key first if there
  // is no DIR/audit.key yet; `now` is recorded in the new file's comment line. Refusals as Load.
  // Not safe against a concurrent LoadOrCreate of the same DIR by another process.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> LoadOrCreate(const std::string& dir,
                                                                   absl::Time now);
  // Loads DIR/audit.key. NOT_FOUND if it (or DIR) does not exist; FAILED_PRECONDITION if the
  // file is unsafe as tls::ReadSecretFile says (a symlink, readable or writable by group or
  // others: "... (mode 0644); chmod 600 DIR/audit.key", owned by someone else, ...), or holds
  // no EC P-256 private key. Messages never contain key material.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> Load(const std::string& dir);

  const std::string& key_id() const { return verifier_.key_id(); }
  const std::string& public_key_pem() const { return verifier_.public_key_pem(); }
  // The verifier of this key, e.g. as the trusted key of VerifyAuditLog.
  const AuditVerifier& verifier() const { return verifier_; }

  // A checkpoint (id 0) over `events` signed at `at`, truncated to whole microseconds as
  // PostgreSQL stores it. INVALID_ARGUMENT if ValidateCheckpointEvents refuses `events`.
  absl::StatusOr<AuditCheckpoint> Sign(CheckpointEvents events, absl::Time at) const;

  // verifier().VerifySignature(cp).
  absl::Status VerifySignature(const AuditCheckpoint& cp) const;

 private:
  AuditSigner(tls::EvpPkeyPtr private_key, AuditVerifier verifier)
      : private_key_(std::move(private_key)), verifier_(std::move(verifier)) {}

  tls::EvpPkeyPtr private_key_;
  AuditVerifier verifier_;
};

}  // namespace keyfleet::controller
