#include "node-agent/accounts.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

std::string UnderRoot(const std::string& root, const std::string& path) {
  return (root == "/" ? std::string() : root) + path;
}

absl::Status ValidateUsername(absl::string_view name) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("account name \"", absl::CHexEscape(name), "\" is refused: ", why));
  };
  if (name.empty()) return refuse("it is empty");
  if (name.size() > 32) return refuse("it is longer than 32 bytes");
  if (name == "." || name == "..") return refuse("it is a path component");
  for (char c : name) {
    if (c == '/') return refuse("it contains '/'");
    if (c == '\0') return refuse("it contains a NUL byte");
    if (c == ' ' || c == '\t' || c == '\n' || c == ':') return refuse("it contains a separator");
  }
  return absl::OkStatus();
}

namespace {

// The whole of a small accounts file (passwd, group), opened relative to `dir_fd` without
// blocking on a FIFO and refused unless regular and at most `limit` bytes.
absl::StatusOr<std::string> ReadAccountsFile(int dir_fd, const std::string& relative_path,
                                             const std::string& shown_path, size_t limit) {
  int fd = openat(dir_fd, relative_path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", shown_path, ": ", std::strerror(errno)));
  }
  UniqueFd held(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(shown_path, " is not a regular file"));
  }
  std::string content;
  if (ReadAll(fd, limit, &content) != ReadAllResult::kOk) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read ", shown_path, " (unreadable, or larger than ", limit, " bytes)"));
  }
  return content;
}

// "a,b,c" into names; false for an empty member (",a", "a,,b", "a,") or an invalid name.
bool ParseMemberList(absl::string_view list, std::vector<std::string>* members) {
  if (list.empty()) return true;
  for (absl::string_view member : absl::StrSplit(list, ',')) {
    if (!ValidateUsername(member).ok()) return false;
    members->emplace_back(member);
  }
  return true;
}

}  // namespace

PasswdFile PasswdFile::Parse(absl::string_view content) {
  PasswdFile file;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    Account a;
    if (f.size() != 7 || !ValidateUsername(f[0]).ok() || !absl::SimpleAtoi(f[2], &a.uid) ||
        !absl::SimpleAtoi(f[3], &a.gid) || f[5].empty() || f[5][0] != '/') {
      ++file.malformed_;
      continue;
    }
    a.name = std::string(f[0]);
    a.home = std::string(f[5]);
    file.by_name_.emplace(a.name, file.entries_.size());  // the first entry wins, as getpwnam
    file.entries_.push_back(std::move(a));
  }
  return file;
}

absl::StatusOr<PasswdFile> PasswdFile::Load(const std::string& path) {
  return LoadAt(AT_FDCWD, path, path);
}

absl::StatusOr<PasswdFile> PasswdFile::LoadAt(int dir_fd, const std::string& relative_path,
                                              const std::string& shown_path) {
  absl::StatusOr<std::string> content =
      ReadAccountsFile(dir_fd, relative_path, shown_path, kMaxPasswdBytes);
  if (!content.ok()) return content.status();
  return Parse(*content);
}

std::optional<Account> PasswdFile::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return entries_[it->second];
}

std::optional<Account> PasswdFile::FindByUid(uid_t uid) const {
  for (const Account& a : entries_) {
    if (a.uid == uid) return a;
  }
  return std::nullopt;
}

GroupFile GroupFile::Parse(absl::string_view content) {
  GroupFile file;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    Group g;
    if (f.size() != 4 || !ValidateUsername(f[0]).ok() || !absl::SimpleAtoi(f[2], &g.gid) ||
        !ParseMemberList(f[3], &g.members)) {
      ++file.malformed_;
      continue;
    }
    g.name = std::string(f[0]);
    file.groups_.push_back(std::move(g));
  }
  return file;
}

absl::StatusOr<GroupFile> GroupFile::Load(const std::string& path) {
  return LoadAt(AT_FDCWD, path, path);
}

absl::StatusOr<GroupFile> GroupFile::LoadAt(int dir_fd, const std::string& relative_path,
                                            const std::string& shown_path) {
  absl::StatusOr<std::string> content =
      ReadAccountsFile(dir_fd, relative_path, shown_path, kMaxGroupBytes);
  if (!content.ok()) return content.status();
  return Parse(*content);
}

std::optional<Group> GroupFile::FindByGid(gid_t gid) const {
  for (const Group& g : groups_) {
    if (g.gid == gid) return g;
  }
  return std::nullopt;
}

absl::Status CheckAccountAllowed(const Account& account, const AccountPolicy& policy) {
  if (policy.allow_root) return absl::OkStatus();
  if (account.uid == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("account ", account.name,
                     " has uid 0; writing root's keys needs allow_root in the "
                     "agent's local config"));
  }
  if (account.uid < policy.min_uid) {
    return absl::PermissionDeniedError(
        absl::StrCat("account ", account.name, " has uid ", account.uid, ", below min_uid ",
                     policy.min_uid, " (a system account); allow it in the agent's local config"));
  }
  return absl::OkStatus();
}

}  // namespace keyfleet::agent
