// Hostile filesystems, one test per case: the agent reads, writes, chowns and chmods nothing
// outside the account's own .ssh, and reports the case. Runs as root (see sandbox.h).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node-agent/tests/sandbox.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent::testing {
namespace {

using ::testing::HasSubstr;

std::string Key(int n) {
  return ::keyfleet::testing::SyntheticEd25519Line(n, "k");
}

// The SSHD_WILL_REFUSE drift items of a report.
std::vector<Drift> SshdRefusals(const ApplyReport& report) {
  std::vector<Drift> out;
  for (const Drift& d : report.drift) {
    if (d.kind == v1::DRIFT_KIND_SSHD_WILL_REFUSE) out.push_back(d);
  }
  return out;
}

// A Debian system: its sshd accepts a group-writable home whose group holds only the account.
void MakeDebian(Sandbox& sandbox) {
  sandbox.Write("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
                0644, 0);
  sandbox.Write("etc/group",
                "root:x:0:\n"
                "users:x:100:alice,bob\n"
                "alice:x:2001:\n"
                "bob:x:2002:\n",
                0644, 0);
}

class HostileFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SnapshotTargets();
    alarm(20);  // a hang (say, on a FIFO) fails the test instead of blocking ctest
  }

  // Everything an attacker would point the agent at, as it is now (after the test's setup).
  void SnapshotTargets() {
    targets_.clear();
    for (const char* rel :
         {"etc/shadow", "etc/passwd", "root/.ssh", "root/.ssh/authorized_keys", "home/bob",
          "home/bob/.ssh", "home/bob/.ssh/authorized_keys", "home", "etc", "root"}) {
      targets_.emplace_back(sandbox_.Path(rel), Snapshot(sandbox_.Path(rel)));
    }
  }
  void TearDown() override { alarm(0); }

  // Applies one key for alice; expects the account refused with `reason`, and no target changed.
  void ExpectRefused(const std::string& reason) {
    ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
    ASSERT_EQ(report.accounts.size(), 1u);
    EXPECT_EQ(report.accounts[0].outcome, AccountOutcome::kRefused) << report.accounts[0].detail;
    EXPECT_THAT(report.accounts[0].detail, HasSubstr(reason));
    EXPECT_EQ(report.writes, 0);
    bool reported = false;
    for (const Drift& d : report.drift) reported |= d.kind == v1::DRIFT_KIND_UNSAFE_PATH;
    EXPECT_TRUE(reported) << "the refusal is reported as drift";
    ExpectTargetsUntouched();
  }

  void ExpectTargetsUntouched() {
    for (const auto& [path, before] : targets_) {
      EXPECT_TRUE(Snapshot(path) == before) << path << " was touched";
    }
  }

  Sandbox sandbox_;
  std::vector<std::pair<std::string, FileState>> targets_;
};

TEST_F(HostileFsTest, AuthorizedKeysSymlinkToARootFile) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kAlice);
  ASSERT_EQ(symlink(sandbox_.Path("etc/shadow").c_str(),
                    sandbox_.Path("home/alice/.ssh/authorized_keys").c_str()),
            0);
  ExpectRefused("symbolic link");
}

TEST_F(HostileFsTest, SshDirSymlinkToAnotherUsersSsh) {
  ASSERT_EQ(
      symlink(sandbox_.Path("home/bob/.ssh").c_str(), sandbox_.Path("home/alice/.ssh").c_str()), 0);
  ExpectRefused("symbolic link");
}

TEST_F(HostileFsTest, SshDirSymlinkToRootsSsh) {
  ASSERT_EQ(symlink("../../root/.ssh", sandbox_.Path("home/alice/.ssh").c_str()), 0);
  ExpectRefused("symbolic link");
}

TEST_F(HostileFsTest, HomeIsASymlink) {
  ASSERT_EQ(rmdir(sandbox_.Path("home/alice").c_str()), 0);
  ASSERT_EQ(symlink(sandbox_.Path("root").c_str(), sandbox_.Path("home/alice").c_str()), 0);
  SnapshotTargets();
  ExpectRefused("symbolic link");
}

TEST_F(HostileFsTest, HardLinkToARootOwnedFile) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kAlice);
  ASSERT_EQ(link(sandbox_.Path("etc/shadow").c_str(),
                 sandbox_.Path("home/alice/.ssh/authorized_keys").c_str()),
            0);
  SnapshotTargets();  // the link itself changed the target's link count
  ExpectRefused("hard links");
}

TEST_F(HostileFsTest, FifoInPlaceOfTheFile) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kAlice);
  ASSERT_EQ(mkfifo(sandbox_.Path("home/alice/.ssh/authorized_keys").c_str(), 0600), 0);
  ExpectRefused("not a regular file");
}

TEST_F(HostileFsTest, DirectoryInPlaceOfTheFile) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kAlice);
  sandbox_.Mkdir("home/alice/.ssh/authorized_keys", 0700, kAlice);
  ExpectRefused("not a regular file");
}

TEST_F(HostileFsTest, StaleTempFilesAreRemovedNotFollowed) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kAlice);
  sandbox_.Write("home/alice/.ssh/.keyfleet-tmp-0123456789abcdef", "half a file", 0600, 0);
  ASSERT_EQ(symlink(sandbox_.Path("etc/shadow").c_str(),
                    sandbox_.Path("home/alice/.ssh/.keyfleet-tmp-feedfacefeedface").c_str()),
            0);
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  EXPECT_EQ(report.writes, 1);
  EXPECT_FALSE(Snapshot(sandbox_.Path("home/alice/.ssh/.keyfleet-tmp-0123456789abcdef")).exists);
  EXPECT_FALSE(Snapshot(sandbox_.Path("home/alice/.ssh/.keyfleet-tmp-feedfacefeedface")).exists);
  ExpectTargetsUntouched();
}

TEST_F(HostileFsTest, HomeOwnedByAnotherUser) {
  ASSERT_EQ(chown(sandbox_.Path("home/alice").c_str(), kBob, kBob), 0);
  targets_.emplace_back(sandbox_.Path("home/alice"), Snapshot(sandbox_.Path("home/alice")));
  ExpectRefused("owned by uid 2002");
  EXPECT_FALSE(Snapshot(sandbox_.Path("home/alice/.ssh")).exists) << "nothing was created";
  // sshd refuses it too, and the report says so with the fix.
  std::vector<Drift> refusals = SshdRefusals(sandbox_.Apply(Desired(1, "alice", {Key(1)})));
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_THAT(refusals[0].detail,
              HasSubstr("run `chown alice " + sandbox_.Path("home/alice") + "`"));
}

TEST_F(HostileFsTest, GroupWritableHomeIsReportedWhereSshdRefusesAnyGroupWrite) {
  // No os-release (an unknown system): upstream OpenSSH's rule, which refuses any group write.
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0775), 0);
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  std::vector<Drift> refusals = SshdRefusals(report);
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_FALSE(refusals[0].repaired) << "never claimed as fixed";
  EXPECT_EQ(refusals[0].path, sandbox_.Path("home/alice"));
  EXPECT_THAT(refusals[0].detail, HasSubstr("775"));
  EXPECT_THAT(refusals[0].detail, HasSubstr("chmod g-w " + sandbox_.Path("home/alice")));
  ExpectTargetsUntouched();
}

TEST_F(HostileFsTest, GroupWritableHomeWithThePrivateGroupIsAcceptedOnDebian) {
  MakeDebian(sandbox_);
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0775), 0);  // alice:alice (2001)
  SnapshotTargets();
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  EXPECT_THAT(SshdRefusals(report), ::testing::IsEmpty());
  EXPECT_EQ(report.writes, 1);
  EXPECT_EQ(Snapshot(sandbox_.Path("home/alice")).mode & 07777, 0775u) << "never changed";
  ExpectTargetsUntouched();
}

TEST_F(HostileFsTest, GroupWritableHomeWithASharedGroupIsReportedOnDebian) {
  MakeDebian(sandbox_);
  ASSERT_EQ(chown(sandbox_.Path("home/alice").c_str(), kAlice, 100), 0);  // users: alice, bob
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0775), 0);
  SnapshotTargets();
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  ExpectTargetsUntouched();
  std::vector<Drift> refusals = SshdRefusals(report);
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_THAT(refusals[0].detail, HasSubstr("group users (gid 100) lists the members alice, bob"));
  EXPECT_THAT(refusals[0].detail, HasSubstr("run `chmod g-w " + sandbox_.Path("home/alice")));
  EXPECT_EQ(report.writes, 1) << "the keys are still written, for when the home is fixed";
}

// Without a group file the agent cannot tell what sshd (which may know the group through NSS)
// decides: reported as "may refuse", not as a sure refusal (access then says it cannot tell).
TEST_F(HostileFsTest, GroupWritableHomeWithoutAGroupFileIsReportedAsUncertainOnDebian) {
  MakeDebian(sandbox_);
  ASSERT_EQ(unlink(sandbox_.Path("etc/group").c_str()), 0);
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0775), 0);
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  EXPECT_THAT(SshdRefusals(report), ::testing::IsEmpty());
  std::vector<Drift> maybe;
  for (const Drift& d : report.drift) {
    if (d.kind == v1::DRIFT_KIND_SSHD_MAY_REFUSE) maybe.push_back(d);
  }
  ASSERT_EQ(maybe.size(), 1u);
  EXPECT_THAT(maybe[0].detail, HasSubstr("cannot read " + sandbox_.Path("etc/group")));
}

TEST_F(HostileFsTest, WorldWritableHomeIsReportedOnDebian) {
  MakeDebian(sandbox_);
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0777), 0);
  std::vector<Drift> refusals = SshdRefusals(sandbox_.Apply(Desired(1, "alice", {Key(1)})));
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_THAT(refusals[0].detail, HasSubstr("is world-writable (mode 777)"));
  EXPECT_THAT(refusals[0].detail, HasSubstr("run `chmod o-w " + sandbox_.Path("home/alice")));
}

TEST_F(HostileFsTest, RepairedSshDirIsNotReportedAsRefused) {
  MakeDebian(sandbox_);
  sandbox_.Mkdir("home/alice/.ssh", 0777, kAlice);
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  EXPECT_THAT(SshdRefusals(report), ::testing::IsEmpty()) << "the agent set it to 700";
  EXPECT_EQ(Snapshot(sandbox_.Path("home/alice/.ssh")).mode & 07777, 0700u);
}

TEST_F(HostileFsTest, SshIsARegularFile) {
  sandbox_.Write("home/alice/.ssh", "not a directory", 0600, kAlice);
  targets_.emplace_back(sandbox_.Path("home/alice/.ssh"),
                        Snapshot(sandbox_.Path("home/alice/.ssh")));
  ExpectRefused("not a directory");
}

TEST_F(HostileFsTest, SshOwnedByAnotherUser) {
  sandbox_.Mkdir("home/alice/.ssh", 0700, kBob);
  targets_.emplace_back(sandbox_.Path("home/alice/.ssh"),
                        Snapshot(sandbox_.Path("home/alice/.ssh")));
  ExpectRefused("owned by uid 2002");
}

}  // namespace
}  // namespace keyfleet::agent::testing
