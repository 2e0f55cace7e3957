// What sshd's log says about keys: the last use of each (account, fingerprint) and from where,
// handed out in bounded batches for the agent's report, and the sessions opened with a key
// that may still be live (for ending those of a revoked key). Thread-safe; bounded in memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "node-agent/sshd_log_framing.h"

namespace keyfleet::agent {

struct KeyUseLimits {
  size_t max_pending_uses = 4096;  // distinct (account, fingerprint) not yet reported
  size_t max_live_sessions = 4096;
};

struct KeyUse {
  std::string account;
  std::string fingerprint;  // "SHA256:…"
  std::string digest;       // its 32 raw bytes
  std::string address;      // of the last use
  absl::Time time;          // of the last use (the log's time, else when it was read)
};

struct KeyUseBatch {
  std::vector<KeyUse> uses;  // oldest first, at most the `max` asked for
  uint64_t dropped = 0;      // uses forgotten before they were reported (the table was full)
};

struct LiveSession {
  std::string account;
  std::string fingerprint;
  std::string digest;
  std::string address;  // the client's, as sshd logged it
  uint16_t port = 0;
  std::optional<pid_t> pid;  // sshd's monitor process, when the log framing names it
  absl::Time time;
};

class KeyUseTracker {
 public:
  KeyUseTracker(KeyUseLimits limits, const Clock& clock);

  // Takes a parsed log record (kAccepted and kSessionEnd; the rest is ignored). A session end
  // forgets the live session with the same address and port (and pid, when both know it).
  void Record(const SshdLogRecord& record);

  // The uses recorded since the last call that handed them out, at most `max` (oldest first);
  // the rest stays for the next call. An entry used again before it was handed out keeps its
  // newest address and time.
  KeyUseBatch TakeChangedUses(size_t max);
  // Puts back a batch that could not be reported (a newer use of the same key recorded
  // meanwhile wins), with its count of dropped uses.
  void ReturnUses(KeyUseBatch batch);

  // The live sessions of keys whose raw digests are in `digests`, oldest first.
  std::vector<LiveSession> SessionsOfKeys(const std::vector<std::string>& digests) const;
  // Forgets the live sessions `ended` says are gone (e.g. no sshd holds their connection).
  void ForgetSessions(const std::function<bool(const LiveSession&)>& ended);
  size_t live_session_count() const;
  uint64_t dropped_sessions() const;  // forgotten because the table was full

 private:
  using UseKey = std::pair<std::string, std::string>;  // account, digest
  // Adds `use` to the pending ones, or updates the pending use of its key when it is newer.
  void PendLocked(KeyUse use);
  const KeyUseLimits limits_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<UseKey, KeyUse> pending_;
  uint64_t dropped_uses_ = 0;
  std::vector<LiveSession> live_;  // in arrival order
  uint64_t dropped_sessions_ = 0;
};

}  // namespace keyfleet::agent
