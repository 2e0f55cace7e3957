// What the agent learns from sshd's authentication log (auth_log_follower.h): the last use of
// each key in each account, reported to the controller in batches, and the live sessions each
// key opened, so the sessions of a key revoked with kill_sessions can be ended
// (ssh_sessions.h). Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/key_use_limits.h"
#include "node-agent/apply.h"
#include "node-agent/auth_log_follower.h"
#include "node-agent/key_use_tracker.h"
#include "node-agent/ssh_sessions.h"

namespace keyfleet::agent {

// The follower's settings for the agent's `sshd_log` and `sshd_log_format` (agent_config.h),
// with paths under `root`. nullopt when there is no log to follow: "off", or "auto" finding
// neither journald (ROOT/run/systemd/journal) nor ROOT/var/log/auth.log.
std::optional<AuthLogSettings> AuthLogSettingsFor(const std::string& sshd_log,
                                                  const std::string& format,
                                                  const std::string& root);

class SshdActivity {
 public:
  SshdActivity(AuthLogSettings settings, const Clock& clock);
  ~SshdActivity();  // Stop()

  void Start();
  void Stop();

  // The uses seen since the last call, at most kMaxKeyUsesPerReport (common/key_use_limits.h;
  // the rest stays for the next call).
  KeyUseBatch TakeChangedUses();
  // A batch TakeChangedUses gave that could not be sent, for the next report.
  void ReturnUses(KeyUseBatch batch) { tracker_.ReturnUses(std::move(batch)); }
  // Ends the live sessions of the keys whose raw SHA-256 digests are `digests`; how many per
  // key (keys with none are left out). Problems are logged.
  std::vector<SessionsEndedCount> EndSessions(const std::vector<std::string>& digests);
  AuthLogCounters counters() const { return follower_.counters(); }

 private:
  KeyUseTracker tracker_;
  SshSessionFinder finder_;
  AuthLogFollower follower_;
};

}  // namespace keyfleet::agent
