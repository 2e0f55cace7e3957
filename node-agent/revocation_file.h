// The KRL the agent keeps for sshd's RevokedKeys (default /etc/ssh/keyfleet/revoked.krl): the
// fleet's revoked keys as SHA256 fingerprints (common/krl.h), root-owned and world-readable.
// sshd refuses every key when the file named by RevokedKeys is missing or unreadable, so it is
// created at enrollment, replaced only whole (posix/system_file_dir.h) and never deleted.
//
// The KRL's comment names the controller's epoch whose list it holds
// ("keyfleet revoked keys; epoch 0123456789abcdef"); its krl_version is the number of keys.
#pragma once

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet::agent {

inline constexpr char kDefaultRevokedKeysFile[] = "/etc/ssh/keyfleet/revoked.krl";

struct RevocationSet {
  std::string epoch;             // "" when of no epoch (as created at enrollment)
  std::set<std::string> sha256;  // raw 32-byte digests of the revoked keys' blobs
  // Of sha256: those revoked with kill_sessions. Known from the controller only (the KRL does
  // not hold it); a set read from the file has none.
  std::set<std::string> kill_sessions;

  bool operator==(const RevocationSet& o) const { return epoch == o.epoch && sha256 == o.sha256; }
};

// The KRL's bytes for `set` (generated at `now`).
absl::StatusOr<std::string> RevocationKrl(const RevocationSet& set, absl::Time now);

// A KRL this agent wrote. One that parses but is not keyfleet's (another comment, explicit key
// blobs) reads as epoch "" with the digests it holds, so the next state replaces it.
absl::StatusOr<RevocationSet> ParseRevocationKrl(absl::string_view bytes);

// The directory and file name of `path` (an absolute path naming a file); INVALID_ARGUMENT
// otherwise.
absl::Status SplitFilePath(const std::string& path, std::string* dir, std::string* name);

// Creates an empty KRL at `path` (directories root-owned 0755, the file 0644) when there is no
// file there. A file that is there is kept when it reads as a KRL, and replaced by an empty one
// when it does not (sshd would refuse every key with it); a symlink or a file not owned by root
// is FAILED_PRECONDITION. For `keyfleet-agent enroll` and agent start-up: sshd must never be
// pointed at a missing or unreadable file.
absl::Status EnsureRevocationFile(const std::string& path);

}  // namespace keyfleet::agent
