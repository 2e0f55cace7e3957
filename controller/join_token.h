// Join tokens' text form: "kfjt_" + 16 hex digits (the id, public, for list and revoke) + "_" +
// 64 hex digits (the secret, 256 random bits). Only the secret's SHA-256 is ever stored: with
// that much entropy a plain hash cannot be brute-forced, unlike a password.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::controller {

struct JoinTokenParts {
  std::string text;         // what the operator is shown once; empty when parsed
  std::string id;           // 16 lowercase hex digits
  std::string secret_hash;  // hex SHA-256 of the secret part
};

// A new token from the system's CSPRNG (OpenSSL RAND_bytes); INTERNAL if it fails.
absl::StatusOr<JoinTokenParts> GenerateJoinToken();

// Strict: the exact form above (lowercase hex), nothing else, no surrounding whitespace.
// UNAUTHENTICATED "malformed join token …" otherwise (it is presented as a credential).
absl::StatusOr<JoinTokenParts> ParseJoinToken(absl::string_view text);

}  // namespace keyfleet::controller
