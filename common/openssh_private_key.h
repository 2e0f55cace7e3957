// OpenSSH's private key file, "openssh-key-v1" (PROTOCOL.key), as ssh-keygen writes it:
// written unencrypted or with a passphrase, read unencrypted only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/ssh_key_generation.h"

namespace keyfleet {

// The largest key file DecodeOpenSshPrivateKey reads; an RSA-16384 key file is about 12.5 KiB.
inline constexpr size_t kMaxOpenSshPrivateKeyTextBytes = 16 * 1024;
// Base64 lines: ssh-keygen writes 70 characters, other writers 64 (Go, PEM) or 76 (Python's
// encodebytes); the reader takes any width up to this one.
inline constexpr size_t kOpenSshPrivateKeyLineChars = 70;
inline constexpr size_t kMaxOpenSshPrivateKeyLineChars = 76;
// Passphrase protection, as ssh-keygen's defaults: aes256-ctr keyed by bcrypt_pbkdf with a
// 16-byte salt and 16 rounds (ssh-keygen -a 16).
inline constexpr uint32_t kOpenSshKdfRounds = 16;
inline constexpr size_t kOpenSshKdfSaltBytes = 16;

// Where the encoder's check integers and KDF salt come from; tests give a fixed one.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out`; an error when no randomness can be had.
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;
};

// OpenSSL's RAND_bytes.
class OpenSslRandomSource : public RandomSource {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override;
};

// The key file text: "-----BEGIN OPENSSH PRIVATE KEY-----\n", the base64 of the binary format
// in lines of kOpenSshPrivateKeyLineChars, "-----END OPENSSH PRIVATE KEY-----\n". Without a
// passphrase: cipher and KDF "none", private section padded to 8 bytes. With one (which must
// not be empty): cipher "aes256-ctr", KDF "bcrypt" with a fresh salt and kOpenSshKdfRounds,
// key and IV the 32 + 16 bytes of bcrypt_pbkdf, private section padded to 16 bytes. The pair
// must pass ValidateSshKeyPair (INVALID_ARGUMENT otherwise).
absl::StatusOr<SecretBytes> EncodeOpenSshPrivateKey(const SshKeyPair& pair,
                                                    std::optional<absl::string_view> passphrase,
                                                    RandomSource& random);
// The same with OpenSslRandomSource.
absl::StatusOr<SecretBytes> EncodeOpenSshPrivateKey(const SshKeyPair& pair,
                                                    std::optional<absl::string_view> passphrase);

// Reads an unencrypted key file (cipher and KDF "none"), failing closed. The text must be at
// most kMaxOpenSshPrivateKeyTextBytes; LF line ends only; exactly the BEGIN line, base64 lines
// (none empty, none over kMaxOpenSshPrivateKeyLineChars, all but the last of one width, the
// last no wider), the END line, then at most one "\n". The binary: the openssh-key-v1 magic;
// empty KDF options; exactly one key; the public key and private fields as
// ReadPrivateKeyFields checks them; a private section of whole 8-byte blocks; its two check
// integers equal; the comment passing ValidateKeyComment; padding 1, 2, 3, … shorter than a
// block; nothing after it.
// INVALID_ARGUMENT with the reason otherwise; UNIMPLEMENTED for a passphrase-protected key.
absl::StatusOr<SshKeyPair> DecodeOpenSshPrivateKey(absl::string_view text);

}  // namespace keyfleet
