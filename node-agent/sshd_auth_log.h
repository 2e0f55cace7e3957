// sshd's own log messages that matter for last use and live sessions: "Accepted publickey …"
// (who logged in with which key, from where) and the lines that end a session. Only the bare
// message (what follows "sshd[PID]: ", or a line of sshd's `-E FILE`); the framings are in
// sshd_log_framing.h. Formats from OpenSSH 9.2's auth.c auth_log() and format_method_key(),
// and packet.c / serverloop.c for the session ends.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::agent {

// sshd prints at most 100 bytes of a user, 200 of an address; a message past this is refused.
inline constexpr size_t kMaxSshdMessageBytes = 4096;

enum class SshdLogEventKind {
  kIgnored,     // not a line we use (most of the log): never an error
  kAccepted,    // "Accepted publickey for USER from ADDR port PORT ssh2: TYPE SHA256:FP…"
  kSessionEnd,  // a post-authentication "Disconnected from user …" and the like
  kMalformed,   // starts like kAccepted but is not one: counted, never half-used
};

struct SshdLogEvent {
  SshdLogEventKind kind = SshdLogEventKind::kIgnored;
  std::string user;         // kAccepted; kSessionEnd when the line names one (else empty)
  std::string address;      // numeric IPv4 or IPv6 (an IPv6 zone "%eth0" kept), as sshd printed it
  uint16_t port = 0;        // the client's port, 1..65535
  std::string key_type;     // kAccepted: sshd's short name, "ED25519", "RSA-CERT", …
  std::string fingerprint;  // kAccepted: "SHA256:…" of the key (a certificate's key, not its CA)
  std::string digest;       // kAccepted: the 32 raw bytes `fingerprint` stands for
  std::string error;        // kMalformed: what was wrong
};

// Parses one message (a trailing "\r" or "\n", as sshd -E writes "\r\n", is dropped).
// Accepted lines are taken only whole: a user that ValidateUsername refuses, an address
// inet_pton refuses, a port outside 1..65535 or with leading zeros, a key type sshd does not
// print, a fingerprint that is not strict SHA256 (sshd's FingerprintHash md5 included), or
// anything unexpected after it gives kMalformed with the reason. Session ends sshd logs before
// authentication (" [preauth]", "authenticating user", "invalid user": their user names are the
// client's choice) are kIgnored, as is any session-end line that does not parse: they are hints
// only (the session killer verifies /proc itself).
SshdLogEvent ParseSshdMessage(absl::string_view message);

// Strict numeric address as sshd prints it (inet_pton IPv4 or IPv6, optional "%zone" on IPv6).
bool IsNumericAddress(absl::string_view address);

}  // namespace keyfleet::agent
