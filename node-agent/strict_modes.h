// What sshd's StrictModes decides about the paths it checks before reading an account's
// authorized_keys, so the agent reports DRIFT_KIND_SSHD_WILL_REFUSE only when sshd refuses.
//
// sshd (auth2-pubkeyfile.c auth_openkeyfile -> misc.c safe_path) checks the file, then each
// parent directory up to and including the home, and stops there. Each must pass
// secure_permissions(), which upstream OpenSSH and Debian's build answer differently:
//   - both: the owner is root or the account, and others have no write bit;
//   - upstream: the group has no write bit either;
//   - Debian and its derivatives (patch user-group-modes.patch, in OpenSSH 9.2p1-2 on Debian 12):
//     a group write bit is accepted when all of these hold, and refused otherwise:
//       the group exists (getgrgid);
//       every passwd entry whose primary gid it is has the account's uid (getpwent);
//       the path's owner has a passwd entry (getpwuid);
//       the group's member list is empty, or exactly one name: the owner's;
//       there is at least one member (a primary member, or that one listed name).
//
// Pure: the caller gives what fstat saw and the parsed passwd and group files. When those
// files cannot be read or have lines the agent cannot parse, a group-writable path is taken
// as refused (sshd's own answer when getgrgid fails), naming the reason.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node-agent/accounts.h"

namespace keyfleet::agent {

enum class GroupWritableRule {
  kRefuse,               // upstream OpenSSH: any group write bit is refused
  kDebianUserGroupModes  // Debian's patch: accepted when the group holds only the account
};

// The rule of the OpenSSH that the distribution in os-release(5) content ships: Debian's
// when ID or ID_LIKE names debian (Ubuntu and other derivatives carry the patch), else
// upstream's (the stricter one, so an unknown system never hides a refusal).
GroupWritableRule GroupWritableRuleForOsRelease(absl::string_view os_release);

// An os-release file larger than this is not read (upstream's rule is used).
inline constexpr size_t kMaxOsReleaseBytes = 64 << 10;

// One path sshd checks, as fstat saw it.
struct PathOwnership {
  std::string path;  // as shown in messages and in the fix command
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // permission bits
};

// What sshd reads to decide about a group-writable path. An error status stands for a file
// that could not be read.
struct AccountDatabases {
  std::string passwd_path;  // as shown in messages
  std::string group_path;
  absl::StatusOr<PasswdFile> passwd = absl::UnavailableError("not read");
  absl::StatusOr<GroupFile> group = absl::UnavailableError("not read");
};

// Whether the answer for `path` depends on the GroupWritableRule and AccountDatabases (only
// when its group write bit is set): callers read those only then.
bool NeedsGroupLookup(const PathOwnership& path);

struct StrictModesRefusal {
  std::string path;
  std::string reason;  // "is group-writable (mode 775) and group users (gid 100) is also …"
  std::string fix;     // a shell command after which sshd accepts the path: "chmod g-w /home/a"
  // false when the agent cannot tell (a group or owner not in its files — sshd may find it
  // through NSS —, unreadable or unparsable account files): sshd may accept the path.
  bool certain = true;
};

// Why sshd refuses `path` for `account` under `rule`, every reason at once (sshd names only
// the first it meets, which would make fixing it a loop); nullopt when sshd accepts it.
// `databases` may be null when !NeedsGroupLookup(path); a null one is otherwise taken as
// unreadable.
std::optional<StrictModesRefusal> CheckStrictModes(const PathOwnership& path,
                                                   const Account& account, GroupWritableRule rule,
                                                   const AccountDatabases* databases);

// The drift detail: "PATH REASON: sshd's StrictModes will refuse ACCOUNT's keys; run `FIX`".
std::string StrictModesMessage(const StrictModesRefusal& refusal, const std::string& account);

}  // namespace keyfleet::agent
