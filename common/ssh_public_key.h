// OpenSSH public keys: the one-line text form ("TYPE BASE64 [COMMENT]") and the wire blob.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_key_type.h"

namespace keyfleet {

// Limits, as OpenSSH sets them where it has one.
inline constexpr uint32_t kMinRsaModulusBits =
    1024;  // SSH_RSA_MINIMUM_MODULUS_SIZE: sshd ignores smaller
inline constexpr uint32_t kMaxRsaModulusBits = 16384;  // SSHBUF_MAX_BIGNUM
inline constexpr uint32_t kMinDsaModulusBits = 1024;
inline constexpr size_t kEd25519PublicKeyBytes = 32;      // ED25519_PK_SZ
inline constexpr size_t kMaxCertificatePrincipals = 256;  // SSHKEY_CERT_MAX_PRINCIPALS

struct CertificateInfo {
  uint64_t serial = 0;
  uint32_t cert_type = 0;  // 1 user, 2 host
  std::string key_id;
  std::vector<std::string> principals;
  uint64_t valid_after = 0;
  uint64_t valid_before = 0;
  KeyType signature_key_type = KeyType::kEd25519;
  std::string signature_key_blob;
};

struct PublicKey {
  KeyType type = KeyType::kEd25519;
  uint32_t bits = 0;       // as `ssh-keygen -l` reports it
  std::string blob;        // the decoded wire blob, exactly as given
  std::string plain_blob;  // certificates only: the certified key's own blob
  std::string comment;     // may be empty
  std::optional<CertificateInfo> certificate;

  // The blob OpenSSH fingerprints: the plain key, also for certificates.
  absl::string_view FingerprintBlob() const { return certificate ? plain_blob : blob; }

  // Same key material and comment. Everything else is derived from the blob.
  bool operator==(const PublicKey& other) const {
    return type == other.type && blob == other.blob && comment == other.comment;
  }
  bool operator!=(const PublicKey& other) const { return !(*this == other); }
};

// Decodes and checks a wire blob: the embedded type is known; RSA modulus and exponent sane
// (odd, e >= 3, e < n, kMinRsaModulusBits..kMaxRsaModulusBits); EC point valid on its curve;
// ed25519 exactly 32 bytes; security-key application a string without NUL; certificates well
// formed and signed by their CA; every mpint canonical; nothing trailing. INVALID_ARGUMENT with
// the reason otherwise. The comment of the result is empty.
absl::StatusOr<PublicKey> ParsePublicKeyBlob(absl::string_view blob);

// Parses "TYPE BASE64 [COMMENT]" (fields separated by spaces or tabs; the comment is the rest of
// the text, kept verbatim). The text type must be one of KeyTypeFromName and equal the blob's.
// No CR, LF or NUL anywhere; no leading whitespace (callers strip what their format allows).
absl::StatusOr<PublicKey> ParsePublicKey(absl::string_view text);

// Parses "TYPE BASE64" at the start of `text`; on success `*rest` is what follows, with the
// separating whitespace skipped (the would-be comment). Does not look at `*rest`.
absl::StatusOr<PublicKey> ParsePublicKeyPrefix(absl::string_view text, absl::string_view* rest);

// "TYPE BASE64" plus " COMMENT" when the comment is not empty. ParsePublicKey(Render(k)) == k
// for every key whose comment passes ValidateKeyComment.
std::string RenderPublicKey(const PublicKey& key);

// A comment must not contain CR, LF or NUL and must not start with a space or tab (it would be
// lost on the round trip).
absl::Status ValidateKeyComment(absl::string_view comment);

// Internal to the parser and the certificate code: like ParsePublicKeyBlob, but refuses
// certificate types (a certificate's CA key must be a plain key).
absl::StatusOr<PublicKey> ParsePlainPublicKeyBlob(absl::string_view blob);

}  // namespace keyfleet
