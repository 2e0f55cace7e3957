#include "node-agent/posix/system_file_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "node-agent/posix/fd_io.h"

namespace keyfleet::agent {
namespace {

std::string Errno(absl::string_view what, absl::string_view path) {
  return absl::StrCat(what, " ", path, ": ", std::strerror(errno));
}

bool OwnedByUs(const struct stat& st) {
  return st.st_uid == 0 || st.st_uid == geteuid();
}

absl::Status CheckDirectory(const struct stat& st, const std::string& path, bool last) {
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a directory"));
  }
  if (!OwnedByUs(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is owned by uid ", st.st_uid,
                     ", not root: whoever owns it could replace the "
                     "files sshd reads from it"));
  }
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (others_write && (last || (st.st_mode & S_ISVTX) == 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is writable by group or others (mode ", absl::StrFormat("%04o", st.st_mode & 07777),
        "): make it 0755 so only root can replace what sshd reads there"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SystemFileDir> SystemFileDir::Open(const std::string& path, bool create) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\" is not an absolute path"));
  }
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (const std::string& part : parts) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \".\" and \"..\" are not allowed"));
    }
  }
  UniqueFd dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return absl::UnavailableError(Errno("cannot open", "/"));
  std::string at = "/";
  struct stat st {};
  if (fstat(dir.get(), &st) != 0) return absl::UnavailableError(Errno("cannot stat", "/"));
  if (absl::Status s = CheckDirectory(st, at, parts.empty()); !s.ok()) return s;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const std::string next = absl::StrCat(at == "/" ? "" : at, "/", part);
    int fd = openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::UnavailableError(Errno("cannot create", next));
      }
      fd = openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      // The umask may have taken bits mkdirat was given; none are added beyond 0755.
      if (fd >= 0) fchmod(fd, 0755);
    }
    if (fd < 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no directory ", next));
      if (errno == ELOOP || errno == ENOTDIR) {
        return absl::FailedPreconditionError(
            absl::StrCat(next, " is a symlink or not a directory; it must be a real directory"));
      }
      return absl::UnavailableError(Errno("cannot open", next));
    }
    UniqueFd held(fd);
    if (fstat(held.get(), &st) != 0) return absl::UnavailableError(Errno("cannot stat", next));
    if (absl::Status s = CheckDirectory(st, next, i + 1 == parts.size()); !s.ok()) return s;
    dir = std::move(held);
    at = next;
  }
  return SystemFileDir(std::move(dir), at);
}

absl::StatusOr<std::optional<std::string>> SystemFileDir::Read(const std::string& name,
                                                               size_t max_bytes) const {
  const std::string path = absl::StrCat(path_, "/", name);
  UniqueFd fd(openat(fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is a symlink"));
    }
    return absl::UnavailableError(Errno("cannot open", path));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return absl::UnavailableError(Errno("cannot stat", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_nlink != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has ", st.st_nlink, " links; it must have exactly one"));
  }
  if (!OwnedByUs(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is owned by uid ", st.st_uid, ", not root"));
  }
  std::string content;
  switch (ReadAll(fd.get(), max_bytes, &content)) {
    case ReadAllResult::kOk:
      return std::optional<std::string>(std::move(content));
    case ReadAllResult::kTooLarge:
      return absl::OutOfRangeError(absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    case ReadAllResult::kError:
      break;
  }
  return absl::UnavailableError(Errno("cannot read", path));
}

absl::StatusOr<std::string> SystemFileDir::WriteTemp(const std::string& name,
                                                     absl::string_view content, mode_t mode) const {
  // A random suffix: two writers never share a temporary file. O_EXCL | O_NOFOLLOW: anything
  // already there fails the write instead of being written through.
  std::random_device random;
  const std::string temp =
      absl::StrCat(kSystemTempPrefix, name, ".", absl::Hex(random(), absl::kZeroPad8));
  UniqueFd fd(openat(fd_.get(), temp.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600));
  const std::string temp_path = absl::StrCat(path_, "/", temp);
  if (!fd.valid()) return absl::UnavailableError(Errno("cannot create", temp_path));
  if (!WriteAll(fd.get(), content) || fchmod(fd.get(), mode) != 0 || fsync(fd.get()) != 0) {
    const std::string error = Errno("cannot write", temp_path);
    unlinkat(fd_.get(), temp.c_str(), 0);
    return absl::UnavailableError(error);
  }
  return temp;
}

absl::Status SystemFileDir::Replace(const std::string& name, absl::string_view content,
                                    mode_t mode) const {
  absl::StatusOr<std::string> temp = WriteTemp(name, content, mode);
  if (!temp.ok()) return temp.status();
  const std::string path = absl::StrCat(path_, "/", name);
  if (renameat(fd_.get(), temp->c_str(), fd_.get(), name.c_str()) != 0) {
    const std::string error = Errno("cannot rename over", path);
    unlinkat(fd_.get(), temp->c_str(), 0);
    return absl::UnavailableError(error);
  }
  if (fsync(fd_.get()) != 0) return absl::UnavailableError(Errno("cannot fsync", path_));
  return absl::OkStatus();
}

absl::StatusOr<bool> SystemFileDir::CreateIfMissing(const std::string& name,
                                                    absl::string_view content, mode_t mode) const {
  absl::StatusOr<std::string> temp = WriteTemp(name, content, mode);
  if (!temp.ok()) return temp.status();
  // linkat fails with EEXIST instead of replacing: an existing file is never touched.
  const bool linked = linkat(fd_.get(), temp->c_str(), fd_.get(), name.c_str(), 0) == 0;
  const int link_errno = errno;
  unlinkat(fd_.get(), temp->c_str(), 0);
  if (!linked) {
    if (link_errno == EEXIST) return false;
    errno = link_errno;
    return absl::UnavailableError(Errno("cannot create", absl::StrCat(path_, "/", name)));
  }
  if (fsync(fd_.get()) != 0) return absl::UnavailableError(Errno("cannot fsync", path_));
  return true;
}

int SystemFileDir::RemoveStaleTemps(const std::string& name) const {
  const int fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return 0;
  }
  const std::string prefix = absl::StrCat(kSystemTempPrefix, name, ".");
  std::vector<std::string> stale;
  while (struct dirent* entry = readdir(dir)) {
    if (absl::StartsWith(entry->d_name, prefix)) stale.emplace_back(entry->d_name);
  }
  closedir(dir);
  int removed = 0;
  for (const std::string& entry : stale) {
    if (unlinkat(fd_.get(), entry.c_str(), 0) == 0) ++removed;
  }
  return removed;
}

}  // namespace keyfleet::agent
