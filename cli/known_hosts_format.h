// known_hosts(5) lines, as `keyfleet known-hosts` writes them: "NAME KEYTYPE BASE64", the name
// "[NAME]:PORT" for a port other than 22, optionally hashed as `ssh-keygen -H` hashes it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::cli {

inline constexpr uint16_t kDefaultSshPort = 22;
// OpenSSH's hashed names: HMAC-SHA1 under a 20-byte salt (SHA_DIGEST_LENGTH).
inline constexpr size_t kKnownHostsSaltBytes = 20;

// How ssh looks `host` up on `port`: "host" on port 22, "[host]:port" otherwise.
std::string KnownHostsName(absl::string_view host, uint16_t port);

// "|1|base64(salt)|base64(HMAC-SHA1(salt, name))": the hashed form ssh matches `name` against
// (hostfile.c host_hash). `salt` must be kKnownHostsSaltBytes bytes.
std::string HashKnownHostsName(absl::string_view name, absl::string_view salt);

// kKnownHostsSaltBytes random bytes (OpenSSL's RAND_bytes); INTERNAL if it has none to give.
absl::StatusOr<std::string> RandomKnownHostsSalt();

// One line, without the newline: "NAME TYPE BASE64". `public_key` must be "TYPE BASE64" (what
// agents report); INVALID_ARGUMENT, saying why, for anything ParsePublicKey refuses, a
// certificate, or a comment.
absl::StatusOr<std::string> KnownHostsLine(absl::string_view name, absl::string_view public_key);

}  // namespace keyfleet::cli
