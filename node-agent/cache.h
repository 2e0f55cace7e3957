// The agent's local cache: the last desired state it applied, so it keeps enforcing it while
// the controller is unreachable, starts from it after a reboot, and answers sshd's
// AuthorizedKeysCommand without the network. Root-only (0600), written atomically (new file,
// fsync, rename, fsync of the directory).
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::agent {

// A cache larger than this is refused as corrupt (desired states arrive in gRPC messages of at
// most 4 MiB).
inline constexpr size_t kMaxCacheBytes = 64 << 20;

absl::Status SaveDesiredStateCache(const std::string& path, const v1::DesiredState& state);
// nullopt when there is no cache yet; DATA_LOSS when it exists but does not parse, or
// FAILED_PRECONDITION when it is not a root-owned regular file without group/other access.
absl::StatusOr<std::optional<v1::DesiredState>> LoadDesiredStateCache(const std::string& path);

}  // namespace keyfleet::agent
