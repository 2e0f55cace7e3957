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
    file.accounts_.emplace(a.name, a);  // the first entry wins, as getpwnam does
  }
  return file;
}

absl::StatusOr<PasswdFile> PasswdFile::Load(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  UniqueFd held(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  std::string content;
  if (ReadAll(fd, kMaxPasswdBytes, &content) != ReadAllResult::kOk) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read ", path, " (unreadable, or larger than ", kMaxPasswdBytes, " bytes)"));
  }
  return Parse(content);
}

std::optional<Account> PasswdFile::Find(const std::string& name) const {
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
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
