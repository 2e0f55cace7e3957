// sshd's StrictModes decision, one table row per case: Debian's user-group-modes rule for a
// group write bit (private group, shared group, listed members, no such group, …), the
// owner and world checks both builds share, and upstream's rule.
#include "node-agent/strict_modes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "alice:x:2001:2001::/home/alice:/bin/sh\n"
    "bob:x:2002:2002::/home/bob:/bin/sh\n"
    "carol:x:2003:3004::/home/carol:/bin/sh\n"
    "ann:x:2005:2005::/home/ann:/bin/sh\n"
    "dave:x:2006:2006::/home/dave:/bin/sh\n"
    "eve:x:2007:2007::/home/eve:/bin/sh\n"
    "alice2:x:2001:3002::/home/alice:/bin/sh\n";  // another name for uid 2001

constexpr char kGroup[] =
    "root:x:0:\n"
    "users:x:100:alice,bob\n"
    "alice:x:2001:\n"
    "bob:x:2002:\n"
    "solo:x:3000:alice\n"
    "empty:x:3001:\n"
    "twins:x:3002:\n"
    "projects:x:3004:\n"
    "ann:x:2005:ann\n"
    "dave:x:2006:dave,bob\n"
    "eve:x:2007:bob\n";

enum class Db { kStandard, kNoRootEntry, kGroupUnreadable, kMalformedPasswd, kNone };

AccountDatabases MakeDatabases(Db kind) {
  AccountDatabases db;
  db.passwd_path = "/etc/passwd";
  db.group_path = "/etc/group";
  std::string passwd = kPasswd;
  if (kind == Db::kNoRootEntry) passwd = passwd.substr(passwd.find('\n') + 1);
  if (kind == Db::kMalformedPasswd) passwd += "+::::::\n";  // NIS compat: sshd may see more
  db.passwd = PasswdFile::Parse(passwd);
  db.group = GroupFile::Parse(kGroup);
  if (kind == Db::kGroupUnreadable) {
    db.group = absl::NotFoundError("cannot read /etc/group: Permission denied");
  }
  return db;
}

Account Named(const std::string& name, uid_t uid) {
  return Account{name, uid, uid, "/home/" + name};
}

struct Case {
  const char* what;
  Account account;
  uid_t uid;
  gid_t gid;
  mode_t mode;
  const char* refused_because;  // nullptr: sshd accepts
  const char* fix = "";
  GroupWritableRule rule = GroupWritableRule::kDebianUserGroupModes;
  Db db = Db::kStandard;
};

TEST(StrictModes, DecidesAsSshdDoes) {
  const Account alice = Named("alice", 2001);
  const Case cases[] = {
      {"0755 home owned by the account", alice, 2001, 2001, 0755, nullptr},
      {"0700 home owned by the account", alice, 2001, 2001, 0700, nullptr},
      {"root-owned 0755 home", alice, 0, 0, 0755, nullptr},
      {"0775 with the account's private group", alice, 2001, 2001, 0775, nullptr},
      {"setgid 2775 with the account's private group", alice, 2001, 2001, 02775, nullptr},
      {"0775, private group that also lists its account", Named("ann", 2005), 2005, 2005, 0775,
       nullptr},
      {"0775, group whose only member is the account, listed", alice, 2001, 3000, 0775, nullptr},
      {"0775, group that is the primary group of another name for the account's uid", alice, 2001,
       3002, 0775, nullptr},
      {"root-owned 0775 with the account's private group (primary members are compared with "
       "the account)",
       alice, 0, 2001, 0775, nullptr},
      {"0775, group users listing alice and bob", alice, 2001, 100, 0775,
       "is group-writable (mode 775) and group users (gid 100) lists the members alice, bob",
       "chmod g-w /home/alice"},
      {"0775, group that is another account's primary group", alice, 2001, 3004, 0775,
       "group projects (gid 3004) is also the primary group of carol (uid 2003)",
       "chmod g-w /home/alice"},
      {"0775, group that is bob's private group", alice, 2001, 2002, 0775,
       "group bob (gid 2002) is also the primary group of bob (uid 2002)", "chmod g-w /home/alice"},
      {"0775, root's group", alice, 2001, 0, 0775, "also the primary group of root (uid 0)",
       "chmod g-w /home/alice"},
      {"0775, group listing one other account", Named("eve", 2007), 2007, 2007, 0775,
       "lists the members bob (only the owner eve, alone, is accepted)", "chmod g-w /home/eve"},
      {"0775, private group listing its account and another", Named("dave", 2006), 2006, 2006, 0775,
       "lists the members dave, bob", "chmod g-w /home/dave"},
      {"0775, group with no members", alice, 2001, 3001, 0775,
       "group empty (gid 3001) has no members", "chmod g-w /home/alice"},
      {"0775, no such group", alice, 2001, 4242, 0775, "its group (gid 4242) is not in /etc/group",
       "chmod g-w /home/alice"},
      {"root-owned 0775, group listing the account (the list is compared with the owner)", alice, 0,
       3000, 0775, "lists the members alice (only the owner root, alone, is accepted)",
       "chmod g-w /home/alice"},
      {"root-owned 0775 with the private group, and no passwd entry for root", alice, 0, 2001, 0775,
       "its owner (uid 0) is not in /etc/passwd", "chmod g-w /home/alice",
       GroupWritableRule::kDebianUserGroupModes, Db::kNoRootEntry},
      {"0775 and the group file unreadable", alice, 2001, 2001, 0775,
       "is unknown (cannot read /etc/group: Permission denied)", "chmod g-w /home/alice",
       GroupWritableRule::kDebianUserGroupModes, Db::kGroupUnreadable},
      {"0775 and passwd lines the agent cannot parse", alice, 2001, 2001, 0775,
       "(/etc/passwd has 1 line(s) the agent cannot parse)", "chmod g-w /home/alice",
       GroupWritableRule::kDebianUserGroupModes, Db::kMalformedPasswd},
      {"0775 and no databases given", alice, 2001, 2001, 0775, "were not looked up",
       "chmod g-w /home/alice", GroupWritableRule::kDebianUserGroupModes, Db::kNone},
      {"0777 with the account's private group", alice, 2001, 2001, 0777,
       "is world-writable (mode 777)", "chmod o-w /home/alice"},
      {"0757", alice, 2001, 2001, 0757, "is world-writable (mode 757)", "chmod o-w /home/alice"},
      {"0777 with a shared group", alice, 2001, 100, 0777,
       "is accepted), and is world-writable (mode 777)", "chmod go-w /home/alice"},
      {"0755 owned by another account", alice, 2002, 2002, 0755,
       "is owned by uid 2002, not by alice (uid 2001) or root", "chown alice /home/alice"},
      {"0777 owned by another account", alice, 2002, 2002, 0777, "or root, and is group-writable",
       "chown alice /home/alice && chmod go-w /home/alice"},
      {"upstream: 0775 with the account's private group", alice, 2001, 2001, 0775,
       "is group-writable (mode 775) and this system's sshd accepts no group write bit",
       "chmod g-w /home/alice", GroupWritableRule::kRefuse},
      {"upstream: 0755", alice, 2001, 2001, 0755, nullptr, "", GroupWritableRule::kRefuse},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const AccountDatabases db = MakeDatabases(c.db);
    const PathOwnership path{c.account.home, c.uid, c.gid, c.mode};
    std::optional<StrictModesRefusal> refusal =
        CheckStrictModes(path, c.account, c.rule, c.db == Db::kNone ? nullptr : &db);
    if (c.refused_because == nullptr) {
      EXPECT_FALSE(refusal.has_value()) << refusal->reason;
      continue;
    }
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->path, c.account.home);
    EXPECT_THAT(refusal->reason, HasSubstr(c.refused_because));
    EXPECT_EQ(refusal->fix, c.fix);
  }
}

TEST(StrictModes, OnlyAGroupWriteBitNeedsTheDatabases) {
  EXPECT_FALSE(NeedsGroupLookup({"/h", 1, 1, 0755}));
  EXPECT_FALSE(NeedsGroupLookup({"/h", 1, 1, 0757}));
  EXPECT_TRUE(NeedsGroupLookup({"/h", 1, 1, 0775}));
  // Without a group write bit, neither the rule nor the (absent) databases matter.
  EXPECT_FALSE(
      CheckStrictModes({"/h", 1, 1, 0755}, Named("a", 1), GroupWritableRule::kRefuse, nullptr)
          .has_value());
}

TEST(StrictModes, MessageNamesPathReasonAndFix) {
  const AccountDatabases db = MakeDatabases(Db::kStandard);
  const Account alice = Named("alice", 2001);
  auto refusal = CheckStrictModes({"/srv/home dirs/alice", 2001, 100, 0775}, alice,
                                  GroupWritableRule::kDebianUserGroupModes, &db);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(StrictModesMessage(*refusal, "alice"),
            "/srv/home dirs/alice is group-writable (mode 775) and group users (gid 100) lists "
            "the members alice, bob (only the owner alice, alone, is accepted): sshd's StrictModes "
            "will refuse alice's keys; run `chmod g-w '/srv/home dirs/alice'`");
}

// What the agent cannot see (a group or owner only NSS knows, account files it cannot read or
// parse) makes the refusal uncertain: reported as "may refuse", never as a sure "no login".
TEST(StrictModes, RefusalsTheAgentCannotBeSureOfAreMarkedUncertain) {
  const Account alice = Named("alice", 2001);
  struct Row {
    const char* what;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    Db db;
    bool certain;
  };
  const Row rows[] = {
      {"shared group", 2001, 100, 0775, Db::kStandard, true},
      {"world-writable", 2001, 2001, 0777, Db::kStandard, true},
      {"group not in /etc/group", 2001, 4242, 0775, Db::kStandard, false},
      {"group file unreadable", 2001, 2001, 0775, Db::kGroupUnreadable, false},
      {"passwd has lines the agent cannot parse", 2001, 2001, 0775, Db::kMalformedPasswd, false},
      {"no databases", 2001, 2001, 0775, Db::kNone, false},
      {"unknown group and world-writable", 2001, 4242, 0777, Db::kStandard, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    const AccountDatabases db = MakeDatabases(row.db);
    auto refusal = CheckStrictModes({"/home/alice", row.uid, row.gid, row.mode}, alice,
                                    GroupWritableRule::kDebianUserGroupModes,
                                    row.db == Db::kNone ? nullptr : &db);
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->certain, row.certain) << refusal->reason;
  }
}

TEST(StrictModes, LongMemberListsAreShortened) {
  AccountDatabases db;
  db.passwd = PasswdFile::Parse("alice:x:2001:2001::/home/alice:/bin/sh\n");
  db.group = GroupFile::Parse("crowd:x:500:a,b,c,d,e\n");
  auto refusal = CheckStrictModes({"/home/alice", 2001, 500, 0775}, Named("alice", 2001),
                                  GroupWritableRule::kDebianUserGroupModes, &db);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_THAT(refusal->reason, HasSubstr("lists the members a, b, c and 2 more"));
}

TEST(StrictModes, OsReleaseChoosesTheGroupRule) {
  const std::pair<const char*, GroupWritableRule> cases[] = {
      {"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
       GroupWritableRule::kDebianUserGroupModes},
      {"ID=\"debian\"\n", GroupWritableRule::kDebianUserGroupModes},
      {"ID=ubuntu\nID_LIKE=debian\n", GroupWritableRule::kDebianUserGroupModes},
      {"ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", GroupWritableRule::kDebianUserGroupModes},
      {"ID=fedora\n", GroupWritableRule::kRefuse},
      {"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", GroupWritableRule::kRefuse},
      {"ID=debianish\n", GroupWritableRule::kRefuse},
      {"VERSION_CODENAME=debian\n", GroupWritableRule::kRefuse},
      {"", GroupWritableRule::kRefuse},
  };
  for (const auto& [content, want] : cases) {
    EXPECT_EQ(GroupWritableRuleForOsRelease(content), want) << content;
  }
}

}  // namespace
}  // namespace keyfleet::agent
