// How much an agent's key-use and sessions-ended reports may carry (agent.proto's KeyUseReport
// and ReportRequest.sessions_ended), defined once: the controller's field limits
// (controller/service/field_limits.h) refuse more, and the agent keeps within them.
#pragma once

#include <cstddef>

#include "absl/time/time.h"

namespace keyfleet {

// Entries of one KeyUseReport: one per (account, fingerprint) seen since the last report. An
// entry is under 200 bytes on the wire, so a full report is under 1 MiB; uses past it are
// counted in left_out (the agent keeps the newest).
inline constexpr size_t kMaxKeyUsesPerReport = 4096;
// A client address as sshd logs it: an IPv6 literal is at most 45 characters (INET6_ADDRSTRLEN
// less its NUL); room for an IPv4-mapped form.
inline constexpr size_t kMaxKeyUseAddressBytes = 64;
// A use older than this is not recorded (a host whose clock or log is far off); one later than
// the controller's clock is recorded as the controller's now (the host's clock is ahead).
inline constexpr absl::Duration kMaxKeyUseAge = absl::Hours(24 * 366 * 10);

// Entries of ReportRequest.sessions_ended: one per revoked key whose sessions the agent ended
// since its last report.
inline constexpr size_t kMaxSessionsEndedPerReport = 4096;

}  // namespace keyfleet
