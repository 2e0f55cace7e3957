#include "node-agent/posix/safe_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "node-agent/posix/fd_io.h"

namespace keyfleet::agent {
namespace {

constexpr mode_t kSshDirMode = 0700;
constexpr mode_t kFileMode = 0600;

absl::Status Refuse(const std::string& path, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", why, "; refusing to touch it"));
}

absl::Status Errno(const std::string& what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

// Why opening `name` with O_NOFOLLOW|O_DIRECTORY failed, as a refusal.
absl::Status DirOpenError(int dir_fd, const char* name, const std::string& path, int err) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return Refuse(path, "is a symbolic link");
    if (!S_ISDIR(st.st_mode)) return Refuse(path, "is not a directory");
  }
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  return Errno("cannot open", path, err);
}

// The OpenSSH group rule of the system under the root: os-release(5) is /etc/os-release, or
// /usr/lib/os-release when that is missing. Unreadable: upstream's (stricter) rule.
GroupWritableRule GroupRuleUnder(int root_fd) {
  for (const char* name : {"etc/os-release", "usr/lib/os-release"}) {
    int fd = openat(root_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) continue;
    UniqueFd held(fd);
    struct stat st;
    std::string content;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        ReadAll(fd, kMaxOsReleaseBytes, &content) != ReadAllResult::kOk) {
      return GroupWritableRule::kRefuse;
    }
    return GroupWritableRuleForOsRelease(content);
  }
  return GroupWritableRule::kRefuse;
}

PathOwnership OwnershipOf(const std::string& path, const struct stat& st) {
  return {path, st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)};
}

std::string RandomSuffix() {
  unsigned char bytes[8];
  if (getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) {
    for (auto& b : bytes) b = static_cast<unsigned char>(rand());
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

}  // namespace

absl::StatusOr<AccountDirs> SafeAccountFs::Open(const Account& account, bool create,
                                                std::vector<Drift>* drift) {
  AccountDirs dirs;
  dirs.home_path = root_label_ + account.home;
  if (account.home.empty() || account.home[0] != '/') {
    return Refuse(dirs.home_path, "home is not an absolute path");
  }
  UniqueFd dir(dup(root_fd_));
  std::string path = root_label_;
  for (absl::string_view part : absl::StrSplit(account.home, '/', absl::SkipEmpty())) {
    path += "/" + std::string(part);
    if (part == "." || part == "..") return Refuse(path, "home path has a . or .. component");
    const std::string name(part);
    int fd = openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return DirOpenError(dir.get(), name.c_str(), path, errno);
    dir = UniqueFd(fd);
  }
  struct stat home;
  if (fstat(dir.get(), &home) != 0) return Errno("cannot stat", dirs.home_path, errno);
  ReportStrictModes(OwnershipOf(dirs.home_path, home), account, drift);
  if (home.st_uid != account.uid && home.st_uid != 0) {
    return Refuse(dirs.home_path, absl::StrCat("home is owned by uid ", home.st_uid, ", not ",
                                               account.name, " (", account.uid, ") or root"));
  }
  dirs.home = std::move(dir);
  dirs.ssh_path = dirs.home_path + "/.ssh";
  int ssh = openat(dirs.home.get(), ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ssh < 0 && errno == ENOENT && create) {
    if (mkdirat(dirs.home.get(), ".ssh", kSshDirMode) != 0 && errno != EEXIST) {
      return Errno("cannot create", dirs.ssh_path, errno);
    }
    ssh = openat(dirs.home.get(), ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ssh >= 0) {
      UniqueFd created(ssh);
      if (fchown(created.get(), account.uid, account.gid) != 0 ||
          fchmod(created.get(), kSshDirMode) != 0) {
        return Errno("cannot set owner and mode of", dirs.ssh_path, errno);
      }
      ssh = created.release();
    }
  }
  if (ssh < 0) return DirOpenError(dirs.home.get(), ".ssh", dirs.ssh_path, errno);
  dirs.ssh = UniqueFd(ssh);
  struct stat st;
  if (fstat(dirs.ssh.get(), &st) != 0) return Errno("cannot stat", dirs.ssh_path, errno);
  if (st.st_uid != account.uid && st.st_uid != 0) {
    ReportStrictModes(OwnershipOf(dirs.ssh_path, st), account, drift);
    return Refuse(dirs.ssh_path, absl::StrCat(".ssh is owned by uid ", st.st_uid, ", not ",
                                              account.name, " (", account.uid, ") or root"));
  }
  if ((st.st_mode & 07777) != kSshDirMode) {
    const mode_t was = st.st_mode & 07777;
    const bool fixed = fchmod(dirs.ssh.get(), kSshDirMode) == 0;
    drift->push_back({account.name, v1::DRIFT_KIND_WRONG_MODE, dirs.ssh_path,
                      absl::StrFormat(".ssh had mode %o, set to 700", was), fixed});
    if (fixed) st.st_mode = (st.st_mode & ~07777) | kSshDirMode;
  }
  // As sshd will find it: only a failed repair leaves something to refuse.
  ReportStrictModes(OwnershipOf(dirs.ssh_path, st), account, drift);
  return dirs;
}

void SafeAccountFs::LoadGroupLookup() {
  if (databases_) return;
  group_rule_ = GroupRuleUnder(root_fd_);
  databases_.emplace();
  databases_->passwd_path = root_label_ + "/etc/passwd";
  databases_->group_path = root_label_ + "/etc/group";
  databases_->passwd = PasswdFile::LoadAt(root_fd_, "etc/passwd", databases_->passwd_path);
  databases_->group = GroupFile::LoadAt(root_fd_, "etc/group", databases_->group_path);
}

void SafeAccountFs::ReportStrictModes(const PathOwnership& path, const Account& account,
                                      std::vector<Drift>* drift) {
  if (NeedsGroupLookup(path)) LoadGroupLookup();
  std::optional<StrictModesRefusal> refusal =
      CheckStrictModes(path, account, group_rule_, databases_ ? &*databases_ : nullptr);
  if (refusal) {
    drift->push_back(
        {account.name,
         refusal->certain ? v1::DRIFT_KIND_SSHD_WILL_REFUSE : v1::DRIFT_KIND_SSHD_MAY_REFUSE,
         path.path, StrictModesMessage(*refusal, account.name), false});
  }
}

std::optional<StrictModesRefusal> SafeAccountFs::FileRefusal(const std::string& path,
                                                             const ExistingFile& file,
                                                             const Account& account) {
  const PathOwnership owner{path, file.uid, file.gid, file.mode};
  if (NeedsGroupLookup(owner)) LoadGroupLookup();
  return CheckStrictModes(owner, account, group_rule_, databases_ ? &*databases_ : nullptr);
}

absl::StatusOr<ExistingFile> SafeAccountFs::ReadAuthorizedKeys(const AccountDirs& dirs) {
  return ReadKeyFile(dirs, "authorized_keys");
}

absl::StatusOr<ExistingFile> SafeAccountFs::ReadKeyFile(const AccountDirs& dirs,
                                                        const std::string& name) {
  const std::string path = dirs.ssh_path + "/" + name;
  ExistingFile file;
  int fd = openat(dirs.ssh.get(), name.c_str(),
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return file;
    if (errno == ELOOP) return Refuse(path, "is a symbolic link");
    return Errno("cannot open", path, errno);
  }
  UniqueFd held(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Refuse(path, "is not a regular file");
  if (st.st_nlink > 1) {
    return Refuse(path, absl::StrCat("has ", st.st_nlink,
                                     " hard links (another name for the same "
                                     "file exists elsewhere)"));
  }
  if (static_cast<size_t>(st.st_size) > kMaxAuthorizedKeysFileBytes) {
    return Refuse(path, absl::StrCat("is larger than ", kMaxAuthorizedKeysFileBytes, " bytes"));
  }
  file.exists = true;
  file.uid = st.st_uid;
  file.gid = st.st_gid;
  file.mode = st.st_mode & 07777;
  switch (ReadAll(fd, kMaxAuthorizedKeysFileBytes, &file.content)) {
    case ReadAllResult::kOk:
      break;
    case ReadAllResult::kError:
      return Errno("cannot read", path, errno);
    case ReadAllResult::kTooLarge:
      return Refuse(path, "grew past the size limit while being read");
  }
  return file;
}

absl::Status SafeAccountFs::ReplaceAuthorizedKeys(const AccountDirs& dirs, const Account& account,
                                                  const std::string& content) {
  const std::string temp = kTempPrefix + RandomSuffix();
  const std::string temp_path = dirs.ssh_path + "/" + temp;
  int fd = openat(dirs.ssh.get(), temp.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd < 0) return Errno("cannot create", temp_path, errno);
  UniqueFd file(fd);
  auto fail = [&](absl::Status status) {
    unlinkat(dirs.ssh.get(), temp.c_str(), 0);
    return status;
  };
  if (!WriteAll(fd, content)) return fail(Errno("cannot write", temp_path, errno));
  if (fchown(fd, account.uid, account.gid) != 0) {
    return fail(Errno("cannot chown", temp_path, errno));
  }
  if (fchmod(fd, kFileMode) != 0) return fail(Errno("cannot chmod", temp_path, errno));
  if (fsync(fd) != 0) return fail(Errno("cannot fsync", temp_path, errno));
  if (renameat(dirs.ssh.get(), temp.c_str(), dirs.ssh.get(), "authorized_keys") != 0) {
    return fail(Errno("cannot rename into place", dirs.ssh_path + "/authorized_keys", errno));
  }
  if (fsync(dirs.ssh.get()) != 0) return Errno("cannot fsync", dirs.ssh_path, errno);
  return absl::OkStatus();
}

int SafeAccountFs::RemoveStaleTempFiles(const AccountDirs& dirs) {
  int dup_fd = dup(dirs.ssh.get());
  if (dup_fd < 0) return 0;
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    close(dup_fd);
    return 0;
  }
  std::vector<std::string> stale;
  while (struct dirent* entry = readdir(dir)) {
    if (absl::StartsWith(entry->d_name, kTempPrefix)) stale.emplace_back(entry->d_name);
  }
  closedir(dir);
  int removed = 0;
  for (const std::string& name : stale) {
    struct stat st;
    // Only entries that are not directories: unlinkat removes the name, never a link's target.
    if (fstatat(dirs.ssh.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(st.st_mode) && unlinkat(dirs.ssh.get(), name.c_str(), 0) == 0) {
      ++removed;
    }
  }
  return removed;
}

bool SafeAccountFs::HasAuthorizedKeys2(const AccountDirs& dirs) {
  struct stat st;
  return fstatat(dirs.ssh.get(), "authorized_keys2", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace keyfleet::agent
