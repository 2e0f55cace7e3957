#include "node-agent/strict_modes.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace keyfleet::agent {
namespace {

// Names listed in a message before "and N more".
constexpr size_t kMaxNamesShown = 3;

std::string ShellQuote(absl::string_view word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || absl::StrContains("/._-+:@%,=", c);
  });
  if (plain) return std::string(word);
  return absl::StrCat("'", absl::StrReplaceAll(word, {{"'", "'\\''"}}), "'");
}

std::string NamesShown(const std::vector<std::string>& names) {
  if (names.size() <= kMaxNamesShown) return absl::StrJoin(names, ", ");
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + kMaxNamesShown, ", "), " and ",
                      names.size() - kMaxNamesShown, " more");
}

std::string GroupLabel(const Group& group) {
  return absl::StrCat("group ", group.name, " (gid ", group.gid, ")");
}

// Why Debian's secure_permissions() refuses a group write bit, in its order; nullopt when it
// accepts. `account_uid` is the account logging in; the member list is compared with the
// name of the path's owner (Debian compares those two, which differ for a root-owned path).
// Whether the refusal is certain: the agent cannot see what sshd sees through NSS (LDAP, sssd)
// or in lines it cannot parse, so "unknown" is reported as such, never as a sure refusal.
struct GroupRefusal {
  std::string reason;
  bool certain = true;
};
GroupRefusal Unsure(std::string reason) {
  return {std::move(reason), false};
}

std::optional<GroupRefusal> DebianGroupRefusal(const PathOwnership& path, uid_t account_uid,
                                               const AccountDatabases* db) {
  if (db == nullptr) return Unsure("its group's members were not looked up");
  if (!db->group.ok()) {
    return Unsure(absl::StrCat("whether its group holds only the account is unknown (",
                               db->group.status().message(), ")"));
  }
  if (!db->passwd.ok()) {
    return Unsure(absl::StrCat("whether its group holds only the account is unknown (",
                               db->passwd.status().message(), ")"));
  }
  std::optional<Group> group = db->group->FindByGid(path.gid);
  if (!group) {
    return Unsure(absl::StrCat("its group (gid ", path.gid, ") is not in ", db->group_path));
  }
  int members = 0;
  std::vector<std::string> others;
  for (const Account& a : db->passwd->entries()) {
    if (a.gid != group->gid) continue;
    ++members;
    if (a.uid != account_uid) others.push_back(absl::StrCat(a.name, " (uid ", a.uid, ")"));
  }
  if (!others.empty()) {
    return GroupRefusal{
        absl::StrCat(GroupLabel(*group), " is also the primary group of ", NamesShown(others))};
  }
  std::optional<Account> owner = db->passwd->FindByUid(path.uid);
  if (!owner) {
    return Unsure(absl::StrCat("its owner (uid ", path.uid, ") is not in ", db->passwd_path));
  }
  if (!group->members.empty()) {
    ++members;
    if (group->members.size() > 1 || group->members[0] != owner->name) {
      return GroupRefusal{absl::StrCat(GroupLabel(*group), " lists the members ",
                                       NamesShown(group->members), " (only the owner ", owner->name,
                                       ", alone, is accepted)")};
    }
  }
  if (members == 0) {
    return GroupRefusal{absl::StrCat(
        GroupLabel(*group), " has no members (accepted only when it holds the account alone)")};
  }
  // Lines the agent could not parse may be entries sshd sees (say, another member).
  for (const auto& [file, malformed] : {std::pair(db->passwd_path, db->passwd->malformed_lines()),
                                        std::pair(db->group_path, db->group->malformed_lines())}) {
    if (malformed > 0) {
      return Unsure(absl::StrCat("whether ", GroupLabel(*group),
                                 " holds only the account is unknown (", file, " has ", malformed,
                                 " line(s) the agent cannot parse)"));
    }
  }
  return std::nullopt;
}

}  // namespace

GroupWritableRule GroupWritableRuleForOsRelease(absl::string_view os_release) {
  for (absl::string_view line : absl::StrSplit(os_release, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "ID=") && !absl::ConsumePrefix(&line, "ID_LIKE=")) continue;
    if (line.size() >= 2 && (line.front() == '"' || line.front() == '\'') &&
        line.back() == line.front()) {
      line = line.substr(1, line.size() - 2);
    }
    for (absl::string_view id : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      if (id == "debian") return GroupWritableRule::kDebianUserGroupModes;
    }
  }
  return GroupWritableRule::kRefuse;
}

bool NeedsGroupLookup(const PathOwnership& path) {
  return (path.mode & S_IWGRP) != 0;
}

std::optional<StrictModesRefusal> CheckStrictModes(const PathOwnership& path,
                                                   const Account& account, GroupWritableRule rule,
                                                   const AccountDatabases* databases) {
  const std::string mode = absl::StrFormat("mode %o", path.mode & 07777);
  std::vector<std::string> reasons;
  std::vector<std::string> fixes;
  if (path.uid != 0 && path.uid != account.uid) {
    reasons.push_back(absl::StrCat("is owned by uid ", path.uid, ", not by ", account.name,
                                   " (uid ", account.uid, ") or root"));
    fixes.push_back(absl::StrCat("chown ", ShellQuote(account.name), " ", ShellQuote(path.path)));
  }
  std::string chmod_who;
  bool certain = true;
  if (path.mode & S_IWGRP) {
    std::optional<GroupRefusal> why;
    if (rule == GroupWritableRule::kRefuse) {
      why = GroupRefusal{"this system's sshd accepts no group write bit"};
    } else {
      why = DebianGroupRefusal(path, account.uid, databases);
    }
    if (why) {
      reasons.push_back(absl::StrCat("is group-writable (", mode, ") and ", why->reason));
      chmod_who += "g";
      certain = why->certain;
    }
  }
  if (path.mode & S_IWOTH) {
    reasons.push_back(absl::StrCat("is world-writable (", mode, ")"));
    chmod_who += "o";
  }
  if (reasons.size() > 1) certain = true;  // any certain reason settles it
  if (reasons.empty()) return std::nullopt;
  if (!chmod_who.empty()) {
    fixes.push_back(absl::StrCat("chmod ", chmod_who, "-w ", ShellQuote(path.path)));
  }
  // Only an uncertain group rule can be the single reason: any other reason is certain.
  return StrictModesRefusal{path.path, absl::StrJoin(reasons, ", and "),
                            absl::StrJoin(fixes, " && "), certain};
}

std::string StrictModesMessage(const StrictModesRefusal& refusal, const std::string& account) {
  return absl::StrCat(refusal.path, " ", refusal.reason, ": sshd's StrictModes will refuse ",
                      account, "'s keys; run `", refusal.fix, "`");
}

}  // namespace keyfleet::agent
