// Local accounts the agent may write for: resolved from a passwd file (DIR/etc/passwd under
// --root), checked against the local safety settings.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

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

// A passwd file larger than this is refused rather than read.
inline constexpr size_t kMaxPasswdBytes = 64 << 20;

// Parses passwd(5) content strictly: seven ':'-separated fields, numeric uid and gid, an
// absolute home. Malformed lines are skipped and counted (a bad line must not hide the rest).
class PasswdFile {
 public:
  static absl::StatusOr<PasswdFile> Load(const std::string& path);
  static PasswdFile Parse(absl::string_view content);

  std::optional<Account> Find(const std::string& name) const;
  int malformed_lines() const { return malformed_; }

 private:
  std::map<std::string, Account> accounts_;
  int malformed_ = 0;
};

struct AccountPolicy {
  uid_t min_uid = 1000;     // accounts below this are system accounts
  bool allow_root = false;  // uid 0 and uids below min_uid only with this
};

// OK, or PERMISSION_DENIED saying which local setting refuses the account.
absl::Status CheckAccountAllowed(const Account& account, const AccountPolicy& policy);

}  // namespace keyfleet::agent
