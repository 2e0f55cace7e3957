// Follows a log file the way `tail -F` does: across rotation by rename (the old file is read to
// its end, then the new one from its start), truncation (copytruncate: read again from 0), and
// the file missing for a while. Complete lines only: a partial last line waits for its newline,
// a line longer than the limit is skipped whole and counted. Not a thread: call Poll.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "node-agent/line_splitter.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

// Where reading stopped: saved across agent restarts to resume at the same place.
struct LogFilePosition {
  dev_t device = 0;
  ino_t inode = 0;
  uint64_t offset = 0;  // the first byte not yet delivered (a partial line is re-read)
};

struct LogFileTailLimits {
  size_t max_line_bytes = 8192;              // longer lines (newline excluded) are skipped
  size_t max_read_bytes_per_poll = 1 << 20;  // the rest waits for the next Poll
};

struct LogFileTailCounters {
  uint64_t lines = 0;
  uint64_t overlong_lines = 0;
  uint64_t rotations = 0;    // a new file at the path (the old one read to its end first)
  uint64_t truncations = 0;  // the file shrank under us: read again from its start
  uint64_t read_errors = 0;  // open/read failures (the path missing is not one)
};

class LogFileTail {
 public:
  // With no `resume`, the file at `path` at the first Poll is read from its end: only what sshd
  // logs from then on. A `resume` naming that file continues at its offset (from 0 when the
  // file is now shorter); one naming another file (rotated while the agent was down) reads the
  // new file from its start. A file that appears later (after a rotation, or one missing at the
  // first Poll) is read from its start.
  LogFileTail(std::string path, LogFileTailLimits limits,
              std::optional<LogFilePosition> resume = std::nullopt);

  // Reads what was appended since the last call and calls `on_line` for each complete line
  // (without its newline). Never blocks on anything but the file's reads.
  void Poll(const std::function<void(absl::string_view line)>& on_line);

  // Where to resume after a restart; nullopt before a file was opened.
  std::optional<LogFilePosition> position() const;
  const LogFileTailCounters& counters() const { return counters_; }

 private:
  bool OpenAtPath(bool from_end);
  // Reads to EOF (or the per-poll budget); false when the budget stopped it.
  bool Drain(const std::function<void(absl::string_view)>& on_line);

  const std::string path_;
  const LogFileTailLimits limits_;
  std::optional<LogFilePosition> resume_;
  bool opened_once_ = false;
  UniqueFd fd_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  uint64_t offset_ = 0;  // bytes of the open file consumed
  LineSplitter lines_;
  LogFileTailCounters counters_;
};

}  // namespace keyfleet::agent
