#include "node-agent/posix/root_key_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "node-agent/posix/fd_io.h"

namespace keyfleet::agent {
namespace {

absl::Status Refuse(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", why, "; refusing to use it"));
}

absl::Status Errno(absl::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

std::string RandomSuffix() {
  unsigned char bytes[8];
  if (getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) {
    for (auto& b : bytes) b = static_cast<unsigned char>(rand());
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

// Opens the directory `name` in `dir` without following a link; creates it first when missing
// and `create`.
absl::StatusOr<UniqueFd> OpenComponent(int dir, const std::string& name, const std::string& path,
                                       bool create) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = openat(dir, name.c_str(), kFlags);
  if (fd < 0 && errno == ENOENT && create) {
    if (mkdirat(dir, name.c_str(), kRootKeyDirMode) != 0 && errno != EEXIST) {
      return Errno("cannot create", path, errno);
    }
    fd = openat(dir, name.c_str(), kFlags);
  }
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  struct stat st;
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return Refuse(path, "is a symbolic link (want a directory)");
    if (!S_ISDIR(st.st_mode)) return Refuse(path, "is not a directory");
  }
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  return Errno("cannot open", path, err);
}

}  // namespace

absl::StatusOr<RootKeyDir> RootKeyDir::Open(int root_fd, const std::string& root_label,
                                            const std::string& path, size_t system_components,
                                            bool create, std::vector<std::string>* repaired) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not an absolute path"));
  }
  UniqueFd dir(dup(root_fd));
  if (!dir.valid()) return Errno("cannot duplicate the root descriptor for", path, errno);
  std::string shown = root_label;
  size_t index = 0;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    shown += "/" + std::string(part);
    if (part == "." || part == "..") return Refuse(shown, "has a . or .. component");
    const bool ours = index++ >= system_components;
    absl::StatusOr<UniqueFd> next =
        OpenComponent(dir.get(), std::string(part), shown, create && ours);
    if (!next.ok()) return next.status();
    struct stat st;
    if (fstat(next->get(), &st) != 0) return Errno("cannot stat", shown, errno);
    if (st.st_uid != 0) {
      return Refuse(shown, absl::StrCat("is owned by uid ", st.st_uid,
                                        ", not root (that user could replace what is in it): "
                                        "chown root ",
                                        shown));
    }
    const mode_t mode = st.st_mode & 07777;
    if ((mode & 022) != 0) {
      if (!ours) {
        return Refuse(shown, absl::StrFormat("has mode %o, writable by group or others (sshd "
                                             "refuses such a path too): chmod go-w %s",
                                             mode, shown));
      }
      if (fchmod(next->get(), kRootKeyDirMode) != 0) return Errno("cannot chmod", shown, errno);
      if (repaired != nullptr) {
        repaired->push_back(
            absl::StrFormat("%s had mode %o, set to %o", shown, mode, kRootKeyDirMode));
      }
    }
    dir = *std::move(next);
  }
  return RootKeyDir(std::move(dir), shown.empty() ? "/" : shown);
}

absl::StatusOr<RootKeyFile> RootKeyDir::Read(const std::string& name, size_t limit,
                                             bool whole) const {
  const std::string path = shown_path_ + "/" + name;
  RootKeyFile file;
  UniqueFd fd(
      openat(fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid()) {
    if (errno == ENOENT) return file;
    // A symlink (ELOOP) or something else that cannot be opened: described, never read.
    if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("cannot open", path, errno);
    }
  } else if (fstat(fd.get(), &st) != 0) {
    return Errno("cannot stat", path, errno);
  }
  file.exists = true;
  file.uid = st.st_uid;
  file.mode = st.st_mode & 07777;
  file.links = st.st_nlink;
  if (!fd.valid() || !S_ISREG(st.st_mode)) return file;
  file.regular = true;
  if (whole) {
    switch (ReadAll(fd.get(), limit, &file.content)) {
      case ReadAllResult::kOk:
        break;
      case ReadAllResult::kError:
        return Errno("cannot read", path, errno);
      case ReadAllResult::kTooLarge:
        return Refuse(path, absl::StrCat("is larger than ", limit, " bytes"));
    }
    return file;
  }
  file.content.resize(limit);
  size_t got = 0;
  while (got < limit) {
    ssize_t n = pread(fd.get(), file.content.data() + got, limit - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read", path, errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  file.content.resize(got);
  return file;
}

absl::Status RootKeyDir::Replace(const std::string& name, absl::string_view content,
                                 mode_t mode) const {
  const std::string temp = kRootKeyTempPrefix + RandomSuffix();
  const std::string temp_path = shown_path_ + "/" + temp;
  UniqueFd fd(openat(fd_.get(), temp.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600));
  if (!fd.valid()) return Errno("cannot create", temp_path, errno);
  auto fail = [&](absl::Status status) {
    unlinkat(fd_.get(), temp.c_str(), 0);
    return status;
  };
  if (!WriteAll(fd.get(), content)) return fail(Errno("cannot write", temp_path, errno));
  if (fchown(fd.get(), 0, 0) != 0) return fail(Errno("cannot chown", temp_path, errno));
  // On the descriptor, whatever the umask made of the mode at creation.
  if (fchmod(fd.get(), mode) != 0) return fail(Errno("cannot chmod", temp_path, errno));
  if (fsync(fd.get()) != 0) return fail(Errno("cannot fsync", temp_path, errno));
  if (renameat(fd_.get(), temp.c_str(), fd_.get(), name.c_str()) != 0) {
    return fail(Errno("cannot rename into place", shown_path_ + "/" + name, errno));
  }
  if (fsync(fd_.get()) != 0) return Errno("cannot fsync", shown_path_, errno);
  return absl::OkStatus();
}

absl::Status RootKeyDir::Remove(const std::string& name) const {
  const std::string path = shown_path_ + "/" + name;
  struct stat st;
  if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno("cannot stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) return Refuse(path, "is a directory (want a file)");
  if (unlinkat(fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return Errno("cannot remove", path, errno);
  }
  if (fsync(fd_.get()) != 0) return Errno("cannot fsync", shown_path_, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RootKeyDir::Names() const {
  // Its own open file description: readdir moves the offset, and fd_ stays untouched.
  int listing = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return Errno("cannot list", shown_path_, errno);
  DIR* dir = fdopendir(listing);
  if (dir == nullptr) {
    const int err = errno;
    close(listing);
    return Errno("cannot list", shown_path_, err);
  }
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(dir);
  return names;
}

}  // namespace keyfleet::agent
