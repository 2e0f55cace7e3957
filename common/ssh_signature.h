// Verification of SSH signatures (RFC 4253 section 6.6, RFC 8332, RFC 5656, RFC 8709).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/ssh_public_key.h"

namespace keyfleet {

// Verifies the SSH signature blob `signature` ("string alg, string sig") by `signer` over
// `data`. Supports ssh-ed25519, ecdsa-sha2-nistp256/384/521 and RSA (ssh-rsa, rsa-sha2-256,
// rsa-sha2-512) signers; DSA and security-key signers are UNIMPLEMENTED (refused). A bad or
// mismatched signature is INVALID_ARGUMENT.
absl::Status VerifySshSignature(const PublicKey& signer, absl::string_view signature,
                                absl::string_view data);

}  // namespace keyfleet
