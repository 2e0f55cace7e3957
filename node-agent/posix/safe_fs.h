// Safe access to an account's ~/.ssh/authorized_keys for an agent running as root. Every step
// goes through held directory descriptors (openat with O_NOFOLLOW), never a path re-resolved by
// name; checks are made with fstat on what was actually opened.
//
// Refused (FAILED_PRECONDITION, naming the path and the reason; nothing is touched): a symlink
// at any level; a home or .ssh owned by someone other than the account or root; .ssh that is not
// a directory; an authorized_keys that is not a regular file (opened O_NONBLOCK: a FIFO never
// hangs), has more than one link, or is larger than kMaxAuthorizedKeysFileBytes.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/delivery_limits.h"
#include "node-agent/accounts.h"
#include "node-agent/drift.h"
#include "node-agent/posix/unique_fd.h"
#include "node-agent/strict_modes.h"

namespace keyfleet::agent {

using ::keyfleet::kMaxAuthorizedKeysFileBytes;  // common/delivery_limits.h
inline constexpr char kTempPrefix[] = ".keyfleet-tmp-";

// The account's home and .ssh, held open.
struct AccountDirs {
  UniqueFd home;
  UniqueFd ssh;
  std::string home_path;  // for messages, as seen from the agent's root
  std::string ssh_path;
};

struct ExistingFile {
  bool exists = false;
  std::string content;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // permission bits
};

class SafeAccountFs {
 public:
  // `root_fd`: the directory treated as "/" (held, not owned). `root_label` prefixes paths in
  // messages ("" for the real root).
  SafeAccountFs(int root_fd, std::string root_label)
      : root_fd_(root_fd), root_label_(std::move(root_label)) {}

  // Opens home and .ssh, creating .ssh (0700, owned by the account) when missing and `create`.
  // Appends drift: .ssh with a wrong mode (repaired via fchmod on the held descriptor), and
  // DRIFT_KIND_SSHD_WILL_REFUSE for a home or .ssh (as left after the repair) that sshd's
  // StrictModes refuses, as CheckStrictModes decides it: with the group rule of the OpenSSH
  // that ROOT/etc/os-release names, and ROOT/etc/passwd and ROOT/etc/group, all read only
  // when a path is group-writable. A home or .ssh owned by another user is also refused here
  // (FAILED_PRECONDITION). NOT_FOUND when .ssh is missing and !create.
  absl::StatusOr<AccountDirs> Open(const Account& account, bool create, std::vector<Drift>* drift);
  absl::StatusOr<ExistingFile> ReadAuthorizedKeys(const AccountDirs& dirs);
  // The file `name` in .ssh, read with authorized_keys' rules (no symlink, one link, the size
  // limit; FAILED_PRECONDITION otherwise). A missing file reads as !exists.
  absl::StatusOr<ExistingFile> ReadKeyFile(const AccountDirs& dirs, const std::string& name);
  // Why sshd's StrictModes ignores `file` (at `path`) for `account`; nullopt: sshd reads it.
  std::optional<StrictModesRefusal> FileRefusal(const std::string& path, const ExistingFile& file,
                                                const Account& account);
  // A new file in .ssh: written, fchown to the account, fchmod 0600, fsync, renameat over
  // authorized_keys, fsync of .ssh. The old file is never modified.
  absl::Status ReplaceAuthorizedKeys(const AccountDirs& dirs, const Account& account,
                                     const std::string& content);
  // Unlinks leftovers of interrupted writes (entries named kTempPrefix*; links, never targets).
  int RemoveStaleTempFiles(const AccountDirs& dirs);
  bool HasAuthorizedKeys2(const AccountDirs& dirs);

 private:
  // Appends SSHD_WILL_REFUSE drift when sshd refuses `path` for `account`.
  void ReportStrictModes(const PathOwnership& path, const Account& account,
                         std::vector<Drift>* drift);
  // Reads the group rule and the account databases the first time a path needs them.
  void LoadGroupLookup();

  int root_fd_;
  std::string root_label_;
  // Valid once LoadGroupLookup ran (the rule is not consulted before: see NeedsGroupLookup).
  GroupWritableRule group_rule_ = GroupWritableRule::kRefuse;
  std::optional<AccountDatabases> databases_;
};

}  // namespace keyfleet::agent
