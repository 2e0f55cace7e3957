// The framings sshd's messages arrive in: sshd's own `-E FILE` (bare messages), a syslog file
// (classic "MMM dd HH:MM:SS HOST sshd[PID]: MESSAGE" or rsyslog's RFC 3339 timestamps, Debian
// 12's default), and `journalctl -o json` lines. Each line is unwrapped, its program checked,
// and the message handed to ParseSshdMessage.
#pragma once

#include <sys/types.h>

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node-agent/sshd_auth_log.h"

namespace keyfleet::agent {

enum class SshdLogFormat {
  kSshdFile,     // sshd -E FILE: the message alone (no time, no pid)
  kSyslog,       // /var/log/auth.log and the like, either timestamp form
  kJournalJson,  // journalctl --output=json, one object per line
};

// A journal line (a JSON object, with its base64-free byte arrays) past this is ignored.
inline constexpr size_t kMaxSshdLogLineBytes = 16 * 1024;

struct SshdLogRecord {
  SshdLogEvent event;
  std::optional<pid_t> pid;        // the logging process (sshd's per-connection monitor)
  std::optional<absl::Time> time;  // when the line says it was logged
};

// The programs whose lines are read: Debian 12's "sshd", and "sshd-session" (OpenSSH ≥ 9.8).
bool IsSshdProgramName(absl::string_view name);

// A process id as the log and /proc spell it: digits only, 2 to PID_MAX_LIMIT (2^22).
bool ParsePid(absl::string_view text, pid_t* pid);

// Unwraps `line` (without its newline) in `format`. Lines of other programs, and lines whose
// framing does not parse (rsyslog's "-- MARK --", a journal line that is not an object), are
// kIgnored: only sshd's messages can be malformed. A classic syslog timestamp has no year:
// the year is the one that puts the time no later than a day after `now` in `zone`.
// For kJournalJson the program is _COMM (set by journald from the kernel, not by the sender)
// and SYSLOG_IDENTIFIER only when _COMM is absent; _PID likewise.
SshdLogRecord ParseSshdLogLine(absl::string_view line, SshdLogFormat format, absl::Time now,
                               absl::TimeZone zone);

}  // namespace keyfleet::agent
