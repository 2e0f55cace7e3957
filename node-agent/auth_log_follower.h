// Follows sshd's log in its own thread and hands each "Accepted publickey" and session-end
// event to a callback: from a log file (sshd -E FILE, or a syslog file such as
// /var/log/auth.log, across rotation) or from journald through a journalctl child process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/clock.h"
#include "node-agent/journalctl_reader.h"
#include "node-agent/log_file_tail.h"
#include "node-agent/sshd_log_framing.h"

namespace keyfleet::agent {

// What the agent's config chooses (see the agent config's sshd_log section, when it exists).
struct AuthLogSettings {
  enum class Source { kFile, kJournald };
  Source source = Source::kFile;
  std::string path = "/var/log/auth.log";              // kFile
  SshdLogFormat file_format = SshdLogFormat::kSyslog;  // kFile: kSyslog or kSshdFile
  std::optional<LogFilePosition> resume;               // kFile: where the last run stopped
  LogFileTailLimits file_limits;
  JournalctlSettings journal;  // kJournald
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::TimeZone zone = absl::LocalTimeZone();  // classic syslog stamps carry no zone
};

struct AuthLogCounters {
  uint64_t lines = 0;
  uint64_t accepted = 0;
  uint64_t session_ends = 0;
  uint64_t malformed = 0;
  uint64_t overlong_lines = 0;
  uint64_t rotations = 0;
  uint64_t truncations = 0;
  uint64_t read_errors = 0;
  uint64_t journalctl_restarts = 0;
  std::string last_malformed;  // the reason the last malformed line gave
};

class AuthLogFollower {
 public:
  // Called on the follower's thread, in log order, for kAccepted and kSessionEnd records only.
  using Callback = std::function<void(const SshdLogRecord&)>;

  AuthLogFollower(AuthLogSettings settings, const Clock& clock, Callback on_event);
  ~AuthLogFollower();  // Stop()
  AuthLogFollower(const AuthLogFollower&) = delete;
  AuthLogFollower& operator=(const AuthLogFollower&) = delete;

  void Start();
  // Ends the thread (within one poll interval plus the journalctl child's stop grace).
  void Stop();

  AuthLogCounters counters() const;
  // kFile: where to resume after a restart (save it with the agent's state).
  std::optional<LogFilePosition> position() const;

 private:
  void Run();
  void PollOnce();
  void HandleLine(absl::string_view line, SshdLogFormat format);

  const AuthLogSettings settings_;
  const Clock& clock_;
  const Callback on_event_;
  LogFileTail file_;
  JournalctlReader journal_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  AuthLogCounters counters_;
  std::optional<LogFilePosition> position_;
  std::thread thread_;
};

}  // namespace keyfleet::agent
