// bcrypt_pbkdf, the passphrase KDF of OpenSSH's private key format ("kdfname bcrypt").
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace keyfleet {

// OpenBSD's caps (bcrypt_pbkdf.c): output at most 32 blocks of 32 bytes, salt at most 1 MiB.
inline constexpr size_t kBcryptPbkdfMaxOutputBytes = 32 * 32;
inline constexpr size_t kBcryptPbkdfMaxSaltBytes = size_t{1} << 20;

// Fills `out` with bcrypt_pbkdf(passphrase, salt, rounds), byte for byte what OpenBSD's
// bcrypt_pbkdf(3) (and so ssh-keygen) derives. INVALID_ARGUMENT, as OpenBSD refuses them, for an
// empty passphrase, salt or output, rounds 0, output over kBcryptPbkdfMaxOutputBytes or salt
// over kBcryptPbkdfMaxSaltBytes. Costs about 4 ms per round per 32-byte block of output
// (ssh-keygen's 16 rounds for a 48-byte key and IV: about 130 ms), plus about 14 ms on the first
// call to derive Blowfish's initial state.
absl::Status BcryptPbkdf(absl::string_view passphrase, absl::string_view salt, uint32_t rounds,
                         absl::Span<uint8_t> out);

}  // namespace keyfleet
