#include "common/tls/secure_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/tls/held_fd.h"

namespace keyfleet::tls {
namespace {

constexpr mode_t kTempFileMode = 0600;
constexpr size_t kTempSuffixBytes = 8;
// Kubernetes' secret volume layout needs two (NAME -> ..data/NAME, ..data -> ..TIMESTAMP).
constexpr int kMaxLinksInsideDirectory = 8;
constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
constexpr int kDirectoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string Octal(mode_t mode) {
  return absl::StrFormat("%04o", mode & 07777);
}

absl::Status Refuse(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(path, " ", why));
}

absl::Status Errno(int err, absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

absl::Status ValidateName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos || name.size() > kMaxSecureFileNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(name.substr(0, kMaxSecureFileNameBytes)),
                     "\" is not a plain file name (allowed: 1 to ", kMaxSecureFileNameBytes,
                     " bytes, no '/' or NUL, not \".\" or \"..\")"));
  }
  return absl::OkStatus();
}

// Why openat(O_NOFOLLOW|O_DIRECTORY) of `name` failed with `err`, as a status.
absl::Status DirectoryOpenError(int parent, const std::string& name, const std::string& path,
                                int err) {
  struct stat st;
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return Refuse(path, "is a symbolic link; refusing to follow it");
    if (!S_ISDIR(st.st_mode)) return Refuse(path, "is not a directory");
  }
  return Errno(err, "cannot open directory", path);
}

// Opens `dir` one component at a time without following symlinks; with `create`, missing
// components are made with `create_mode`.
absl::StatusOr<HeldFd> OpenDirectory(const std::string& dir, bool create, mode_t create_mode) {
  if (dir.empty() || dir.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("the directory path is empty or contains NUL");
  }
  const bool absolute = dir[0] == '/';
  HeldFd held(open(absolute ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (held.get() < 0) {
    return Errno(errno, "cannot open", absolute ? "/" : "the current directory");
  }
  std::string path = absolute ? "" : ".";
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    const std::string name(part);
    path = absl::StrCat(path, "/", name);
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(held.get(), name.c_str(), kFlags);
    if (fd < 0 && errno == ENOENT && create) {
      // EEXIST: someone else made it meanwhile; the open below checks what it is.
      if (mkdirat(held.get(), name.c_str(), create_mode) != 0 && errno != EEXIST) {
        return Errno(errno, "cannot create directory", path);
      }
      fd = openat(held.get(), name.c_str(), kFlags);
    }
    if (fd < 0) return DirectoryOpenError(held.get(), name, path, errno);
    held = HeldFd(fd);
  }
  return held;
}

// Whether `fd` lies on a file system mounted read-only. Nobody can then change what is in it,
// whatever its mode bits say: kubelet mounts a secret volume read-only, with a root directory
// of mode 1777 (3777 with an fsGroup) that no process in the pod can write through.
bool OnReadOnlyMount(int fd) {
  struct statvfs vfs;
  return fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
}

// Whether `gid` is this process's effective group or one of its supplementary groups.
bool IsOwnGroup(gid_t gid) {
  if (gid == getegid()) return true;
  const int count = getgroups(0, nullptr);
  if (count <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  const int got = getgroups(count, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

// The owner and mode rules for the directory that holds secrets (and for a directory whose
// symbolic links are followed): owned by root or this process, and nobody else can write to it.
absl::Status CheckPrivateDirectory(int fd, const std::string& dir) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno(errno, "cannot stat", dir);
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return Refuse(dir, absl::StrCat("is owned by uid ", st.st_uid, ", not by root or uid ",
                                    geteuid(), " (this process); refusing to keep secrets in it"));
  }
  // The read-only allowance also needs the sticky bit (kubelet's 1777/3777): a read-only view
  // may be this process's alone (systemd's ProtectSystem=strict remounts a world-writable
  // directory read-only only inside the unit), and in a sticky directory nobody else can
  // replace or remove the files root or this process own, whatever else they can create there.
  const bool sticky_read_only = (st.st_mode & S_ISVTX) && OnReadOnlyMount(fd);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_read_only) {
    return Refuse(dir, absl::StrCat("is writable by group or others (mode ", Octal(st.st_mode),
                                    "); chmod go-w ", dir));
  }
  return absl::OkStatus();
}

absl::StatusOr<HeldFd> OpenPrivateDirectory(const std::string& dir) {
  KF_ASSIGN_OR_RETURN(HeldFd held, OpenDirectory(dir, /*create=*/false, 0));
  KF_RETURN_IF_ERROR(CheckPrivateDirectory(held.get(), dir));
  return held;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size())) {
    return Errno(errno, "cannot read", "random bytes for a temporary file name");
  }
  return absl::BytesToHexString(raw);
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t written = write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

// Refuses an existing `name` that renaming over would be wrong to replace.
absl::Status CheckReplaceable(int dir_fd, const std::string& name, const std::string& path) {
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno(errno, "cannot stat", path);
  }
  if (S_ISLNK(st.st_mode)) return Refuse(path, "is a symbolic link; refusing to replace it");
  if (!S_ISREG(st.st_mode)) return Refuse(path, "is not a regular file; refusing to replace it");
  if (st.st_nlink > 1) {
    return Refuse(path, absl::StrCat("has ", st.st_nlink,
                                     " hard links (another name for the same file exists "
                                     "elsewhere); refusing to replace it"));
  }
  return absl::OkStatus();
}

// The target of the symbolic link `name` in `dir_fd`, or nullopt if `name` is not a link.
std::optional<std::string> ReadLinkAt(int dir_fd, const std::string& name) {
  char target[PATH_MAX];
  const ssize_t got = readlinkat(dir_fd, name.c_str(), target, sizeof(target));
  if (got < 0) return std::nullopt;
  // A target as long as the buffer may be cut short; "" then fails the checks that follow.
  if (static_cast<size_t>(got) >= sizeof(target)) return std::string();
  return std::string(target, static_cast<size_t>(got));
}

// Opens the file `relative` (plain names joined by '/') below the held directory `top`, for
// a symbolic link `path` found in `top`. Links that are entries of `top` itself are followed
// while their targets are such relative paths too; every other component is opened with
// O_NOFOLLOW. With no absolute target and no "." or ".." component, nothing outside `top` is
// ever reached. Subdirectories passed through must follow the private directory rules.
absl::StatusOr<HeldFd> OpenLinkedFileInside(int top, const std::string& top_path,
                                            std::string relative, const std::string& path) {
  for (int links = 1;; ++links) {
    if (links > kMaxLinksInsideDirectory) {
      return Refuse(path, absl::StrCat("leads through more than ", kMaxLinksInsideDirectory,
                                       " symbolic links; refusing to follow them"));
    }
    const std::vector<std::string> parts = absl::StrSplit(relative, '/');
    for (const std::string& part : parts) {
      if (part.empty() || part == "." || part == "..") {
        return Refuse(path, absl::StrCat("is a symbolic link to \"", absl::CHexEscape(relative),
                                         "\", which is not a path inside ", top_path,
                                         "; refusing to follow it"));
      }
    }
    HeldFd first(openat(top, parts[0].c_str(), parts.size() == 1 ? kReadFlags : kDirectoryFlags));
    if (first.get() < 0) {
      const int err = errno;
      std::optional<std::string> target = ReadLinkAt(top, parts[0]);
      if (!target) return Errno(err, "cannot open", absl::StrCat(top_path, "/", parts[0]));
      std::vector<std::string> rest(parts.begin() + 1, parts.end());
      rest.insert(rest.begin(), *target);
      relative = absl::StrJoin(rest, "/");
      continue;
    }
    HeldFd held = std::move(first);
    std::string held_path = absl::StrCat(top_path, "/", parts[0]);
    for (size_t i = 1; i < parts.size(); ++i) {
      KF_RETURN_IF_ERROR(CheckPrivateDirectory(held.get(), held_path));
      const bool last = i + 1 == parts.size();
      const std::string next_path = absl::StrCat(held_path, "/", parts[i]);
      HeldFd next(openat(held.get(), parts[i].c_str(), last ? kReadFlags : kDirectoryFlags));
      if (next.get() < 0) {
        if (!last) return DirectoryOpenError(held.get(), parts[i], next_path, errno);
        if (errno == ELOOP) return Refuse(next_path, "is a symbolic link; refusing to follow it");
        return Errno(errno, "cannot open", next_path);
      }
      held = std::move(next);
      held_path = next_path;
    }
    return held;
  }
}

absl::StatusOr<std::string> ReadCheckedFile(const std::string& path, size_t limit, bool secret) {
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("the file path contains NUL");
  }
  // The directories too are walked without following symlinks, as for writing.
  const auto [dir, name] = SplitDirAndName(path);
  KF_RETURN_IF_ERROR(ValidateName(name));
  KF_ASSIGN_OR_RETURN(HeldFd parent, OpenDirectory(dir, /*create=*/false, 0));
  HeldFd fd(openat(parent.get(), name.c_str(), kReadFlags));
  if (fd.get() < 0 && errno == ELOOP) {
    // A link is followed only inside a directory nobody else can change: whoever made the
    // link could have written the file itself. That is how Kubernetes mounts a secret (files
    // are links into a "..data" directory); the file reached is checked as any other.
    if (absl::Status private_dir = CheckPrivateDirectory(parent.get(), dir); !private_dir.ok()) {
      return Refuse(path, absl::StrCat("is a symbolic link; refusing to follow it (",
                                       private_dir.message(), ")"));
    }
    std::optional<std::string> target = ReadLinkAt(parent.get(), name);
    if (!target) return Errno(ELOOP, "cannot open", path);
    KF_ASSIGN_OR_RETURN(fd, OpenLinkedFileInside(parent.get(), dir, *target, path));
  } else if (fd.get() < 0) {
    return Errno(errno, "cannot open", path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) return Refuse(path, "is not a regular file");
  if (secret && st.st_nlink > 1) {
    return Refuse(path, absl::StrCat("has ", st.st_nlink,
                                     " hard links (another name for the same file exists "
                                     "elsewhere); refusing to read a secret through it"));
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return Refuse(path, absl::StrCat("is owned by uid ", st.st_uid, ", not by root or uid ",
                                     geteuid(), " (this process)"));
  }
  // Kubernetes gives every file of a secret volume group read for the pod's fsGroup (a
  // defaultMode of 0400 becomes 0440; without an fsGroup a non-root process cannot read the
  // root-owned files at all). On a read-only mount, a group this process is in may read it.
  const bool own_group_on_read_only =
      (st.st_mode & S_IRGRP) && IsOwnGroup(st.st_gid) && OnReadOnlyMount(fd.get());
  const mode_t read_by_others = (own_group_on_read_only ? 0 : S_IRGRP) | S_IROTH;
  if (secret && (st.st_mode & read_by_others)) {
    return Refuse(path, absl::StrCat("is readable by group or others (mode ", Octal(st.st_mode),
                                     "); chmod 600 ", path));
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return Refuse(path, absl::StrCat("is writable by group or others (mode ", Octal(st.st_mode),
                                     "); chmod ", secret ? "600 " : "go-w ", path));
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return Refuse(path, absl::StrCat("is ", st.st_size, " bytes (at most ", limit, " allowed)"));
  }
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t got = read(fd.get(), buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Errno(errno, "cannot read", path);
    if (got == 0) break;
    if (content.size() + static_cast<size_t>(got) > limit) {
      return Refuse(path, absl::StrCat("grew past ", limit, " bytes while being read"));
    }
    content.append(buffer, static_cast<size_t>(got));
  }
  return content;
}

}  // namespace

namespace {

absl::Status WriteFile(const std::string& dir, const std::string& name, absl::string_view content,
                       mode_t mode, bool replace) {
  KF_RETURN_IF_ERROR(ValidateName(name));
  if (mode & ~static_cast<mode_t>(0777)) {
    return absl::InvalidArgumentError(
        absl::StrCat("file mode ", Octal(mode), " is not allowed (allowed: bits within 0777)"));
  }
  KF_ASSIGN_OR_RETURN(HeldFd held, OpenPrivateDirectory(dir));
  const std::string path = absl::StrCat(dir, "/", name);
  KF_ASSIGN_OR_RETURN(std::string suffix, RandomHex(kTempSuffixBytes));
  const std::string temp = absl::StrCat(".", name, ".tmp-", suffix);
  const std::string temp_path = absl::StrCat(dir, "/", temp);
  HeldFd file(openat(held.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     kTempFileMode));
  if (file.get() < 0) return Errno(errno, "cannot create", temp_path);
  auto fail = [&](absl::Status status) {
    unlinkat(held.get(), temp.c_str(), 0);
    return status;
  };
  if (!WriteAll(file.get(), content)) return fail(Errno(errno, "cannot write", temp_path));
  if (fchmod(file.get(), mode) != 0) return fail(Errno(errno, "cannot chmod", temp_path));
  if (fsync(file.get()) != 0) return fail(Errno(errno, "cannot fsync", temp_path));
  if (!replace) {
    // The name appears complete or not at all, and never replaces what another process made.
    if (renameat2(held.get(), temp.c_str(), held.get(), name.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) {
        return fail(absl::AlreadyExistsError(absl::StrCat(path, " exists already")));
      }
      return fail(Errno(errno, "cannot rename into place", path));
    }
  } else {
    if (absl::Status replaceable = CheckReplaceable(held.get(), name, path); !replaceable.ok()) {
      return fail(replaceable);
    }
    if (renameat(held.get(), temp.c_str(), held.get(), name.c_str()) != 0) {
      return fail(Errno(errno, "cannot rename into place", path));
    }
  }
  // The rename is durable only once the directory entry is.
  if (fsync(held.get()) != 0) return Errno(errno, "cannot fsync", dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& dir, const std::string& name,
                                 absl::string_view content, mode_t mode) {
  return WriteFile(dir, name, content, mode, /*replace=*/true);
}

absl::Status CreateFileExclusively(const std::string& dir, const std::string& name,
                                   absl::string_view content, mode_t mode) {
  return WriteFile(dir, name, content, mode, /*replace=*/false);
}

absl::Status EnsurePrivateDirectory(const std::string& dir, mode_t mode) {
  KF_ASSIGN_OR_RETURN(HeldFd held, OpenDirectory(dir, /*create=*/true, mode));
  return CheckPrivateDirectory(held.get(), dir);
}

absl::StatusOr<bool> FileExists(const std::string& dir, const std::string& name) {
  KF_RETURN_IF_ERROR(ValidateName(name));
  KF_ASSIGN_OR_RETURN(HeldFd held, OpenPrivateDirectory(dir));
  struct stat st;
  if (fstatat(held.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return Errno(errno, "cannot stat", absl::StrCat(dir, "/", name));
}

absl::StatusOr<bool> RemoveFileIfExists(const std::string& dir, const std::string& name) {
  KF_RETURN_IF_ERROR(ValidateName(name));
  KF_ASSIGN_OR_RETURN(HeldFd held, OpenPrivateDirectory(dir));
  const std::string path = absl::StrCat(dir, "/", name);
  // Without AT_REMOVEDIR unlinkat refuses a directory (EISDIR) and removes a symlink itself.
  if (unlinkat(held.get(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) return false;
    if (errno == EISDIR) return Refuse(path, "is a directory; refusing to remove it");
    return Errno(errno, "cannot remove", path);
  }
  if (fsync(held.get()) != 0) return Errno(errno, "cannot fsync", dir);
  return true;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, size_t limit) {
  return ReadCheckedFile(path, limit, /*secret=*/true);
}

absl::StatusOr<std::string> ReadPublicFile(const std::string& path, size_t limit) {
  return ReadCheckedFile(path, limit, /*secret=*/false);
}

std::pair<std::string, std::string> SplitDirAndName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace keyfleet::tls
