// Directories and files the agent keeps for sshd outside any home, such as the KRL in
// /etc/ssh/keyfleet: opened component by component from "/" through held descriptors (openat
// with O_NOFOLLOW: a symlink anywhere is refused, never followed), each directory checked with
// fstat on what was opened. Every file is replaced whole: a temporary file, fchmod, fsync,
// renameat over the old one, fsync of the directory. A reader (sshd) sees the old file or the
// new one, never a missing or partial one, also across a crash or kill -9 of the agent.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

// Temporary files in such a directory are named kSystemTempPrefix + the file's name + a suffix.
inline constexpr char kSystemTempPrefix[] = ".keyfleet-tmp-";

class SystemFileDir {
 public:
  // Opens the absolute directory `path`. Each component must be a directory (not a symlink)
  // owned by root or by the agent's own user; one that others may write to must be sticky
  // (/tmp), except the last, which nobody else may write to at all. Missing components are
  // created (0755) when `create`, else NOT_FOUND. FAILED_PRECONDITION naming the component and
  // what is wrong with it otherwise.
  static absl::StatusOr<SystemFileDir> Open(const std::string& path, bool create);

  // The regular file `name`, at most `max_bytes`; nullopt when there is none. A symlink, a
  // non-regular file, one with several links or owned by someone else is FAILED_PRECONDITION;
  // a larger one is OUT_OF_RANGE.
  absl::StatusOr<std::optional<std::string>> Read(const std::string& name, size_t max_bytes) const;
  // Replaces (or creates) `name` with `content`, owned by the agent's user, mode `mode`; see
  // the top of this file. On failure the old file is left as it was.
  absl::Status Replace(const std::string& name, absl::string_view content, mode_t mode) const;
  // Creates `name` with `content` only when there is no such entry; false when there was one.
  absl::StatusOr<bool> CreateIfMissing(const std::string& name, absl::string_view content,
                                       mode_t mode) const;
  // Unlinks what interrupted replacements of `name` left behind; how many.
  int RemoveStaleTemps(const std::string& name) const;

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

 private:
  SystemFileDir(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  // Writes `content` to a new temporary file and returns its name.
  absl::StatusOr<std::string> WriteTemp(const std::string& name, absl::string_view content,
                                        mode_t mode) const;

  UniqueFd fd_;
  std::string path_;
};

}  // namespace keyfleet::agent
