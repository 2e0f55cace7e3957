// Keeps the host's KRL (revocation_file.h) equal to the fleet's revoked keys as each desired
// state announces them (agent.proto's Revocations): adds the state's recent revocations when
// that completes the list, else asks the controller for the whole list (GetRevocations, through
// the fetcher the watch client provides). The file is never removed, and a failure leaves it as
// it was: the host keeps refusing what it already refused. Thread-safe.
//
// Why the KRL is complete whenever it holds at least `total` digests of the state's epoch: the
// controller's list only grows within an epoch, and the keeper only ever holds a complete copy
// of it as of some moment (a whole-list fetch whose size matched the controller's count, or a
// complete copy plus recent revocations that came to exactly the state's count).
#pragma once

#include <sys/stat.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keyfleet/v1/agent.pb.h"
#include "node-agent/revocation_file.h"

namespace keyfleet::agent {

// The controller's whole list (every page of GetRevocations).
using RevocationFetcher = std::function<absl::StatusOr<RevocationSet>()>;

class RevocationKeeper {
 public:
  // `path`: the KRL, already under the agent's root; "" keeps none.
  explicit RevocationKeeper(std::string path);

  // Makes sure the file exists (EnsureRevocationFile) and removes leftovers of interrupted
  // writes. An error is logged and returned; the agent goes on.
  absl::Status Start();
  // Brings the KRL to `state`'s revocations. "" when it holds them (or the state carries none,
  // or no KRL is kept); otherwise why not, for the report (the file is left as it was).
  // `fetch` may be empty (no controller connection): then only recent revocations can be added.
  // Sets *end_sessions (when given) to the digests this update added to the KRL that were
  // revoked with kill_sessions: their live sessions are to be ended.
  std::string Update(const v1::DesiredState& state, const RevocationFetcher& fetch,
                     std::vector<std::string>* end_sessions = nullptr);

  const std::string& path() const { return path_; }

 private:
  // What the file holds; read again only when the file is not the one last written or read.
  absl::StatusOr<RevocationSet> CurrentLocked();
  absl::Status WriteLocked(const RevocationSet& set);

  const std::string path_;
  std::string dir_path_, name_;  // of path_, when path_status_ is OK
  absl::Status path_status_;     // SplitFilePath's verdict on path_
  std::mutex mu_;
  std::optional<RevocationSet> known_;  // the file's content as of known_stat_
  struct stat known_stat_ {};
};

}  // namespace keyfleet::agent
