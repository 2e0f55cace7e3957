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
}

TEST_F(HostileFsTest, GroupWritableHomeIsReportedAsSshdWillRefuse) {
  ASSERT_EQ(chmod(sandbox_.Path("home/alice").c_str(), 0775), 0);
  ApplyReport report = sandbox_.Apply(Desired(1, "alice", {Key(1)}));
  bool reported = false;
  for (const Drift& d : report.drift) {
    if (d.kind == v1::DRIFT_KIND_SSHD_WILL_REFUSE) {
      reported = true;
      EXPECT_FALSE(d.repaired) << "never claimed as fixed";
      EXPECT_THAT(d.detail, HasSubstr("775"));
    }
  }
  EXPECT_TRUE(reported);
  ExpectTargetsUntouched();
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
