// A directory of key files only root writes (the central key files, the keys index): opened
// component by component from a held root with openat(O_NOFOLLOW), every component checked on
// the descriptor it opened — a directory, owned by root, not writable by group or others, no
// sticky exception — which is what sshd's StrictModes demands of an AuthorizedKeysFile outside
// a home, so no other user can swap a file or a directory under sshd or the agent. Files are
// replaced, never modified: a new file in the held directory (O_EXCL, a random name), fchown
// root, fchmod, fsync, renameat, fsync of the directory, so a reader sees the old or the new
// version, never half of one.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

inline constexpr mode_t kRootKeyDirMode = 0755;
// Temporary files of interrupted writes start with this (the same prefix as in .ssh).
inline constexpr char kRootKeyTempPrefix[] = ".keyfleet-tmp-";

struct RootKeyFile {
  bool exists = false;
  bool regular = false;  // false: a symlink, FIFO, directory… (content not read)
  std::string content;   // all of it, or the prefix asked for
  uid_t uid = 0;
  mode_t mode = 0;  // permission bits
  nlink_t links = 0;
};

class RootKeyDir {
 public:
  // Opens `path` (absolute, as seen from the root) below `root_fd`. The first
  // `system_components` components (e.g. etc, ssh) belong to the system: they must exist and
  // are never changed. The others are the agent's: created (root, kRootKeyDirMode) when
  // missing and `create`, their mode set to kRootKeyDirMode when it has group or other write
  // (each repair appended to `repaired` as a sentence). FAILED_PRECONDITION naming the
  // component and what to change for a symlink, a non-directory, an owner other than root, or
  // (in the system's part) group or other write; NOT_FOUND when a component is missing and may
  // not be created. `root_label` prefixes paths in messages ("" for the real root).
  static absl::StatusOr<RootKeyDir> Open(int root_fd, const std::string& root_label,
                                         const std::string& path, size_t system_components,
                                         bool create, std::vector<std::string>* repaired);

  // The entry `name` (one component): its owner, mode and links, and for a regular file its
  // content: all of it when `whole` (FAILED_PRECONDITION when larger than `limit`), else its
  // first `limit` bytes. Never follows a symlink, never blocks on a FIFO; a missing file reads
  // as !exists, a non-regular one as !regular.
  absl::StatusOr<RootKeyFile> Read(const std::string& name, size_t limit, bool whole) const;
  // Replaces `name` with `content`, root-owned, mode `mode` (see the top of this file).
  absl::Status Replace(const std::string& name, absl::string_view content, mode_t mode) const;
  // Unlinks `name` (never a directory; a link, never its target), then fsyncs the directory.
  // OK when it does not exist.
  absl::Status Remove(const std::string& name) const;
  // The names in the directory but "." and "..".
  absl::StatusOr<std::vector<std::string>> Names() const;

  const std::string& path() const { return shown_path_; }
  int fd() const { return fd_.get(); }

 private:
  RootKeyDir(UniqueFd fd, std::string shown_path)
      : fd_(std::move(fd)), shown_path_(std::move(shown_path)) {}

  UniqueFd fd_;
  std::string shown_path_;
};

}  // namespace keyfleet::agent
