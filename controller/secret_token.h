// Bearer secrets' text form: PREFIX + 16 hex digits (the id, public, for list and revoke) + "_" +
// 64 hex digits (the secret, 256 random bits). Only the secret's SHA-256 is ever stored: with
// that much entropy a plain hash cannot be brute-forced, unlike a password.
//   join tokens (an agent's one-time enrollment):  kfjt_<id>_<secret>
//   API tokens (an admin, operator, auditor, owner): kfat_<id>_<secret>
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::controller {

struct SecretTokenFormat {
  absl::string_view prefix;  // "kfjt_"
  absl::string_view noun;    // "join token", in errors
  absl::string_view origin;  // the command that prints one, in errors
};

inline constexpr SecretTokenFormat kJoinTokenFormat{"kfjt_", "join token",
                                                    "`keyfleet host token create`"};
inline constexpr SecretTokenFormat kApiTokenFormat{"kfat_", "API token", "`keyfleet token create`"};

struct SecretTokenParts {
  std::string text;         // what the operator is shown once; empty when parsed
  std::string id;           // 16 lowercase hex digits
  std::string secret_hash;  // hex SHA-256 of the secret part
};

// A new token from the system's CSPRNG (OpenSSL RAND_bytes); INTERNAL if it fails.
absl::StatusOr<SecretTokenParts> GenerateSecretToken(const SecretTokenFormat& format);

// Strict: the exact form above (lowercase hex), nothing else, no surrounding whitespace.
// UNAUTHENTICATED "malformed join token …" otherwise (it is presented as a credential).
absl::StatusOr<SecretTokenParts> ParseSecretToken(const SecretTokenFormat& format,
                                                  absl::string_view text);

// Constant-time comparison of two hex hashes (a timing side channel must not reveal how much
// of a guessed secret's hash matched).
bool SecretHashEquals(absl::string_view a, absl::string_view b);

}  // namespace keyfleet::controller
