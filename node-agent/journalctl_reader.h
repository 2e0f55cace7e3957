// `journalctl --follow --output=json --lines=0 _COMM=sshd` as a child process whose lines are
// read without blocking: started without a shell, restarted with backoff when it exits, and
// stopped (SIGTERM, then SIGKILL) with the reader. Not a thread: call Poll.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node-agent/line_splitter.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

struct JournalctlSettings {
  std::string journalctl = "/usr/bin/journalctl";
  // The journal matches after the options (matches on one field are ORed): Debian 12's sshd
  // logs with _COMM "sshd", OpenSSH 9.8 and later's per-connection process as "sshd-session"
  // (IsSshdProgramName accepts both).
  std::vector<std::string> matches = {"_COMM=sshd", "_COMM=sshd-session"};
  size_t max_line_bytes = 16 * 1024;  // longer lines are skipped
  size_t max_read_bytes_per_poll = 1 << 20;
  absl::Duration min_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(60);
  absl::Duration stop_grace = absl::Seconds(2);  // SIGTERM, then SIGKILL
};

struct JournalctlCounters {
  uint64_t lines = 0;
  uint64_t overlong_lines = 0;
  uint64_t starts = 0;
  uint64_t exits = 0;  // the child ended by itself (each one restarted after a backoff)
  uint64_t spawn_errors = 0;
};

class JournalctlReader {
 public:
  explicit JournalctlReader(JournalctlSettings settings);
  ~JournalctlReader();  // Stop()
  JournalctlReader(const JournalctlReader&) = delete;
  JournalctlReader& operator=(const JournalctlReader&) = delete;

  // Starts the child when none runs and its backoff has passed, then delivers the complete
  // lines it wrote since the last call. Notices the child's exit (and schedules the restart).
  void Poll(absl::Time now, const std::function<void(absl::string_view line)>& on_line);
  // Ends the child, if any; waits at most stop_grace before SIGKILL, and reaps it.
  void Stop();

  std::vector<std::string> Argv() const;  // what is executed
  pid_t child() const { return child_; }
  const JournalctlCounters& counters() const { return counters_; }

 private:
  bool Spawn(absl::Time now);
  void ChildEnded(absl::Time now);

  const JournalctlSettings settings_;
  pid_t child_ = -1;
  UniqueFd out_;
  absl::Time started_ = absl::InfinitePast();
  absl::Time next_start_ = absl::InfinitePast();
  absl::Duration backoff_;
  LineSplitter lines_;
  JournalctlCounters counters_;
};

}  // namespace keyfleet::agent
