// The agent's local cache: the last desired state it applied, so it keeps enforcing it while
// the controller is unreachable, starts from it after a reboot, and answers sshd's
// AuthorizedKeysCommand without the network.
//
// Two slot files, PREFIX.0 and PREFIX.1, root-only (0600). Each holds a header (magic,
// sequence number, payload length, SHA-256 of those and the payload) and the serialized state.
// A save overwrites, in place, the slot that does not hold the newest valid state, then
// fdatasyncs it: a crash mid-write leaves that slot failing its hash and the other one intact,
// so a load always finds the newest state that was completely written. Overwriting in place
// costs no inode allocation, rename or directory fsync on each save, which matters when a
// revocation reaches every host at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::agent {

// A slot larger than this is refused as corrupt (desired states arrive in gRPC messages of at
// most 4 MiB).
inline constexpr size_t kMaxCacheBytes = 64 << 20;

class DesiredStateCache {
 public:
  explicit DesiredStateCache(std::string prefix) : prefix_(std::move(prefix)) {}

  // The newest valid slot's state; nullopt when neither slot exists. FAILED_PRECONDITION when a
  // slot is not a regular file owned by this user without group/other access, or has more than
  // one link (it is not trusted, and never written); DATA_LOSS when slots exist but none is
  // valid.
  absl::StatusOr<std::optional<v1::DesiredState>> Load();
  // Writes `state` to the other slot. Loads first (to learn which slot is newest) if Load was
  // never called. A failed save leaves the newest valid slot untouched, and the next save
  // retries the same slot.
  absl::Status Save(const v1::DesiredState& state);

  std::string SlotPath(int slot) const { return prefix_ + "." + std::to_string(slot); }

 private:
  std::string prefix_;
  std::optional<uint64_t> newest_;  // sequence of the newest valid slot; 0 when none
};

}  // namespace keyfleet::agent
