// OpenSSH key revocation lists (KRL), as PROTOCOL.krl defines them and sshd's RevokedKeys reads
// them: the fleet's revoked keys, so that sshd refuses them wherever they appear (a line a user
// pasted into their own file, another account, authorized_keys2, an AuthorizedKeysCommand).
//
// keyfleet writes two kinds of section, each revoking every key given: SHA256 fingerprint
// (KRL_SECTION_FINGERPRINT_SHA256: the SHA-256 of each key blob, in ascending order, no
// duplicates, as sshd requires) and explicit key (KRL_SECTION_EXPLICIT_KEY: the blobs
// themselves). No certificates, no signature (OpenSSH >= 9.4 refuses signed KRLs).
//
// ParseKrl reads back what BuildKrl writes and what `ssh-keygen -k` writes for plain keys, and
// refuses anything else: certificate, SHA-1, signature and critical extension sections, an
// unknown section type, trailing bytes, empty sections, and fingerprints out of order.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

inline constexpr uint64_t kKrlMagic = 0x5353484b524c0a00ULL;  // "SSHKRL\n\0"
inline constexpr uint32_t kKrlFormatVersion = 1;
inline constexpr uint8_t kKrlSectionExplicitKey = 2;
inline constexpr uint8_t kKrlSectionFingerprintSha256 = 5;
inline constexpr uint8_t kKrlSectionExtension = 255;
// A KRL larger than this is refused by ParseKrl: 4 million keys' fingerprints and blobs.
inline constexpr size_t kMaxKrlBytes = 256u << 20;

struct Krl {
  uint64_t version = 0;       // krl_version: grows with each change (the agent: the generation)
  uint64_t generated_at = 0;  // seconds since 1970-01-01 UTC
  std::string comment;
  std::set<std::string> sha256;     // raw 32-byte SHA-256 digests of key blobs
  std::set<std::string> key_blobs;  // plain public key blobs (never certificates)

  bool operator==(const Krl& o) const;
};

// The KRL's bytes: header, then one SHA256 fingerprint section holding `sha256` and the SHA-256
// of every blob, then one explicit key section holding `key_blobs` (each section only when it
// has entries). INVALID_ARGUMENT for a digest that is not 32 bytes or a blob that is not a plain
// public key.
absl::StatusOr<std::string> BuildKrl(const Krl& krl);

// The KRL in `bytes`, strictly (see the top of this file); INVALID_ARGUMENT saying what is wrong
// and where.
absl::StatusOr<Krl> ParseKrl(absl::string_view bytes);

// Whether `krl` revokes the plain public key `blob` (by its SHA-256 or by the blob itself).
bool KrlRevokes(const Krl& krl, absl::string_view blob);

}  // namespace keyfleet
