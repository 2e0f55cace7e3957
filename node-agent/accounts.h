// Local accounts the agent may write for: resolved from a passwd file (DIR/etc/passwd under
// --root), checked against the local safety settings. The group file (DIR/etc/group) is read
// the same way, for what sshd's StrictModes decides about group-writable paths.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::agent {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // absolute, as passwd gives it
};

// `path` (absolute) as seen from `root`: "/etc/passwd" under "/" or under "/sandbox/h1".
std::string UnderRoot(const std::string& root, const std::string& path);

// Refuses names that are empty, longer than 32 bytes, contain '/', NUL or whitespace, or are
// "." or ".." (INVALID_ARGUMENT naming the problem).
absl::Status ValidateUsername(absl::string_view name);

// A passwd or group file larger than this is refused rather than read.
inline constexpr size_t kMaxPasswdBytes = 64 << 20;
inline constexpr size_t kMaxGroupBytes = 64 << 20;

// Parses passwd(5) content strictly: seven ':'-separated fields, numeric uid and gid, an
// absolute home. Malformed lines are skipped and counted (a bad line must not hide the rest).
class PasswdFile {
 public:
  static absl::StatusOr<PasswdFile> Load(const std::string& path);
  // `relative_path` opened relative to `dir_fd` (a held root); `shown_path` names it in messages.
  static absl::StatusOr<PasswdFile> LoadAt(int dir_fd, const std::string& relative_path,
                                           const std::string& shown_path);
  static PasswdFile Parse(absl::string_view content);

  // The first entry with that name, as getpwnam returns it.
  std::optional<Account> Find(const std::string& name) const;
  // The first entry with that uid, as getpwuid returns it.
  std::optional<Account> FindByUid(uid_t uid) const;
  // Every well-formed line in file order, duplicates included, as getpwent yields them.
  const std::vector<Account>& entries() const { return entries_; }
  int malformed_lines() const { return malformed_; }

 private:
  std::vector<Account> entries_;
  std::map<std::string, size_t> by_name_;  // index into entries_ of each name's first line
  int malformed_ = 0;
};

struct Group {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;  // the supplementary members listed in the fourth field
};

// Parses group(5) content as strictly as PasswdFile: four ':'-separated fields, a valid name, a
// numeric gid, and a member list that is empty or valid names separated by single commas (no
// empty member, no trailing comma). Malformed lines are skipped and counted.
class GroupFile {
 public:
  static absl::StatusOr<GroupFile> Load(const std::string& path);
  static absl::StatusOr<GroupFile> LoadAt(int dir_fd, const std::string& relative_path,
                                          const std::string& shown_path);
  static GroupFile Parse(absl::string_view content);

  // The first entry with that gid, as getgrgid returns it.
  std::optional<Group> FindByGid(gid_t gid) const;
  int malformed_lines() const { return malformed_; }

 private:
  std::vector<Group> groups_;  // file order
  int malformed_ = 0;
};

struct AccountPolicy {
  uid_t min_uid = 1000;     // accounts below this are system accounts
  bool allow_root = false;  // uid 0 and uids below min_uid only with this
};

// OK, or PERMISSION_DENIED saying which local setting refuses the account.
absl::Status CheckAccountAllowed(const Account& account, const AccountPolicy& policy);

}  // namespace keyfleet::agent
