// How much one agent report may carry, defined once: the controller's field limits
// (controller/service/field_limits.h) refuse more, and the agent keeps within them
// (node-agent/report_request.h), so a report always fits the controller's receive limit.
#pragma once

#include <climits>
#include <cstddef>

#include "common/delivery_limits.h"  // kMaxObservedReportBytes: the observed key lines' share

namespace keyfleet {

// The largest message the controller receives: gRPC's default receive limit, which it keeps.
inline constexpr size_t kMaxReportMessageBytes = 4 << 20;

// A path the agent reports (a home directory comes from the passwd file): PATH_MAX.
inline constexpr size_t kMaxReportPathBytes = PATH_MAX;
// The agent's own words in a report (a drift's detail, why an account failed): a message
// that may quote a few paths.
inline constexpr size_t kMaxReportTextBytes = 4 * PATH_MAX;

// Drift items in one report. An item is at least ~30 bytes on the wire, so a report within
// kMaxReportMessageBytes holds fewer; the agent's byte budget below binds first.
inline constexpr size_t kMaxReportDriftItems = 1 << 18;
// The drift items of one report, all together. Items past it are counted in one last item
// (DRIFT_KIND_LEFT_OUT) saying how many were left out.
inline constexpr size_t kMaxReportDriftBytes = 1 << 20;
// The failed accounts of one report, all together; likewise counted past it.
inline constexpr size_t kMaxReportFailureBytes = 512 << 10;

// The host's SSH host public keys (ROOT/etc/ssh/ssh_host_*_key.pub): a host has one per key
// type, four at most today. Keys past the count are not reported (the agent logs them).
inline constexpr size_t kMaxReportHostPublicKeys = 16;
// One reported host key, "TYPE BASE64" without its comment: a 16384-bit RSA key (OpenSSH's
// largest) is under 3 KiB.
inline constexpr size_t kMaxReportHostPublicKeyBytes = 8 << 10;

// What is left (512 KiB) holds the rest: host keys and their fingerprints, digests, the
// revocations error, and one entry per observed account besides its lines.
static_assert(kMaxReportHostPublicKeys * kMaxReportHostPublicKeyBytes <= (256 << 10),
              "the host keys must leave room for the rest of a report");
static_assert(kMaxObservedReportBytes + kMaxReportDriftBytes + kMaxReportFailureBytes +
                      (512 << 10) <=
                  kMaxReportMessageBytes,
              "a report's budgets must fit the controller's receive limit");

}  // namespace keyfleet
