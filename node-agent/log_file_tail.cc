#include "node-agent/log_file_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace keyfleet::agent {

LogFileTail::LogFileTail(std::string path, LogFileTailLimits limits,
                         std::optional<LogFilePosition> resume)
    : path_(std::move(path)), limits_(limits), resume_(resume), lines_(limits.max_line_bytes) {}

std::optional<LogFilePosition> LogFileTail::position() const {
  if (!fd_.valid()) return std::nullopt;
  // A partial line is read again after a restart; an overlong one's tail is then one line
  // the parser ignores.
  return LogFilePosition{device_, inode_, offset_ - lines_.pending_bytes()};
}

bool LogFileTail::OpenAtPath(bool from_end) {
  // O_NONBLOCK: a FIFO put at the path must not hang the follower; it is refused below.
  UniqueFd fd(open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    if (errno != ENOENT) ++counters_.read_errors;
    return false;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    ++counters_.read_errors;
    return false;
  }
  uint64_t start = 0;
  if (resume_ && resume_->device == st.st_dev && resume_->inode == st.st_ino) {
    start = resume_->offset <= static_cast<uint64_t>(st.st_size) ? resume_->offset : 0;
  } else if (from_end && !resume_) {
    start = static_cast<uint64_t>(st.st_size);
  }
  resume_.reset();
  if (lseek(fd.get(), static_cast<off_t>(start), SEEK_SET) < 0) {
    ++counters_.read_errors;
    return false;
  }
  fd_ = std::move(fd);
  device_ = st.st_dev;
  inode_ = st.st_ino;
  offset_ = start;
  lines_.Reset();
  return true;
}

bool LogFileTail::Drain(const std::function<void(absl::string_view)>& on_line) {
  char buf[16384];
  size_t budget = limits_.max_read_bytes_per_poll;
  while (budget > 0) {
    const ssize_t n = read(fd_.get(), buf, std::min(sizeof(buf), budget));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ++counters_.read_errors;
      return true;
    }
    if (n == 0) return true;
    offset_ += static_cast<uint64_t>(n);
    budget -= static_cast<size_t>(n);
    counters_.overlong_lines +=
        lines_.Feed(absl::string_view(buf, static_cast<size_t>(n)), [&](absl::string_view line) {
          ++counters_.lines;
          on_line(line);
        });
  }
  return false;
}

void LogFileTail::Poll(const std::function<void(absl::string_view)>& on_line) {
  if (!fd_.valid()) {
    if (!OpenAtPath(/*from_end=*/!opened_once_)) {
      // Missing at start: whatever file appears there later is read from its start.
      opened_once_ = true;
      return;
    }
    opened_once_ = true;
  }
  struct stat open_st;
  if (fstat(fd_.get(), &open_st) == 0 && static_cast<uint64_t>(open_st.st_size) < offset_) {
    ++counters_.truncations;
    lseek(fd_.get(), 0, SEEK_SET);
    offset_ = 0;
    lines_.Reset();
  }
  if (!Drain(on_line)) return;  // more to read in this file: the path is checked next time
  struct stat path_st;
  const bool replaced =
      stat(path_.c_str(), &path_st) != 0 || path_st.st_dev != device_ || path_st.st_ino != inode_;
  if (!replaced) return;
  // The old file was read to its end just now; a line it left unfinished never completes.
  ++counters_.rotations;
  fd_ = UniqueFd();
  lines_.Reset();
  if (OpenAtPath(/*from_end=*/false)) Drain(on_line);
}

}  // namespace keyfleet::agent
