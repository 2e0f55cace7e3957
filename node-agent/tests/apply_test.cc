// Applying desired states to a sandbox root: idempotence, modes and owners, isolation between
// accounts, local refusals, and kill -9 at random moments (the file is always the old or the
// new version). Runs as root (see sandbox.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "node-agent/managed_block.h"
#include "node-agent/posix/safe_fs.h"
#include "node-agent/tests/sandbox.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent::testing {
namespace {

using ::testing::HasSubstr;

std::string Key(int n) {
  return ::keyfleet::testing::SyntheticEd25519Line(n, "k");
}
const char kAliceKeys[] = "home/alice/.ssh/authorized_keys";

TEST(Apply, CreatesSshAndTheFileWithTheRightOwnerAndModes) {
  Sandbox sandbox;
  ApplyReport report = sandbox.Apply(Desired(3, "alice", {Key(1), Key(2)}));
  ASSERT_EQ(report.writes, 1) << ApplyReportToJson(report);
  FileState ssh = Snapshot(sandbox.Path("home/alice/.ssh"));
  EXPECT_EQ(ssh.mode & 07777, 0700u);
  EXPECT_EQ(ssh.uid, kAlice);
  FileState file = Snapshot(sandbox.Path(kAliceKeys));
  EXPECT_EQ(file.mode & 07777, 0600u);
  EXPECT_EQ(file.uid, kAlice);
  EXPECT_EQ(file.gid, kAlice);
  EXPECT_EQ(file.content, RenderManagedBlock({Key(1), Key(2)}, 3));
}

TEST(Apply, ASecondApplyOfTheSameStateWritesNothing) {
  Sandbox sandbox;
  sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  sandbox.Write(kAliceKeys, "# mine\r\n" + Key(9), 0600, kAlice);
  ASSERT_EQ(sandbox.Apply(Desired(3, "alice", {Key(1)})).writes, 1);
  FileState before = Snapshot(sandbox.Path(kAliceKeys));
  FileState dir_before = Snapshot(sandbox.Path("home/alice/.ssh"));
  ApplyReport again = sandbox.Apply(Desired(3, "alice", {Key(1)}));
  EXPECT_EQ(again.writes, 0);
  EXPECT_TRUE(again.drift.empty());
  EXPECT_TRUE(Snapshot(sandbox.Path(kAliceKeys)) == before) << "same inode, same mtime";
  EXPECT_TRUE(Snapshot(sandbox.Path("home/alice/.ssh")) == dir_before);
}

TEST(Apply, WrongModeOrOwnerIsRepairedByRewritingNotByChmod) {
  Sandbox sandbox;
  ASSERT_EQ(sandbox.Apply(Desired(3, "alice", {Key(1)})).writes, 1);
  const std::string path = sandbox.Path(kAliceKeys);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);
  ino_t old_inode = Snapshot(path).inode;
  ApplyReport report = sandbox.Apply(Desired(3, "alice", {Key(1)}));
  EXPECT_EQ(report.writes, 1);
  int reported = 0;
  for (const Drift& d : report.drift) {
    reported +=
        (d.kind == v1::DRIFT_KIND_WRONG_MODE || d.kind == v1::DRIFT_KIND_WRONG_OWNER) && d.repaired;
  }
  EXPECT_EQ(reported, 2);
  FileState now = Snapshot(path);
  EXPECT_EQ(now.mode & 07777, 0600u);
  EXPECT_EQ(now.uid, kAlice);
  EXPECT_NE(now.inode, old_inode) << "a new file replaced the old one";
}

TEST(Apply, OneBadAccountNeverStopsTheOthers) {
  Sandbox sandbox;
  v1::DesiredState d;
  d.set_generation(2);
  for (const char* name : {"../etc", "nobody", "root", "daemon", "alice", "bob"}) {
    v1::AccountKeys* a = d.add_accounts();
    a->set_account(name);
    a->add_keys(Key(1));
  }
  v1::AccountKeys* bad_line = d.add_accounts();
  bad_line->set_account("alice");
  bad_line->add_keys("ssh-ed25519 not-base64!");
  ApplyReport report = sandbox.Apply(d);
  ASSERT_EQ(report.accounts.size(), 7u);
  EXPECT_EQ(report.accounts[0].outcome, AccountOutcome::kRefused);  // "../etc"
  EXPECT_THAT(report.accounts[0].detail, HasSubstr("'/'"));
  EXPECT_EQ(report.accounts[1].outcome, AccountOutcome::kNoAccount);  // no such account
  EXPECT_EQ(report.accounts[2].outcome, AccountOutcome::kRefused);    // uid 0
  EXPECT_THAT(report.accounts[2].detail, HasSubstr("allow_root"));
  EXPECT_EQ(report.accounts[3].outcome, AccountOutcome::kRefused);  // uid 1 < min_uid
  EXPECT_EQ(report.accounts[4].outcome, AccountOutcome::kWritten);
  EXPECT_EQ(report.accounts[5].outcome, AccountOutcome::kWritten);
  EXPECT_EQ(report.accounts[6].outcome, AccountOutcome::kRefused);  // invalid line
  EXPECT_THAT(report.accounts[6].detail, HasSubstr("nothing written"));
  EXPECT_EQ(Read(sandbox.Path("root/.ssh/authorized_keys")), "# root's own keys\n");
  AccountPolicy allow;
  allow.allow_root = true;
  ApplyReport with_root = sandbox.Apply(Desired(2, "root", {Key(1)}), allow);
  EXPECT_EQ(with_root.writes, 1) << "root only with the local allow_root setting";
}

// The file limit holds both ways: at the limit the file is written, one byte past it nothing is
// written and the account is reported as not applied (the previous file stays).
TEST(Apply, AFileOverTheLimitIsNeverWrittenAndTheAccountIsNotApplied) {
  Sandbox sandbox;
  ASSERT_EQ(sandbox.Apply(Desired(1, "alice", {Key(1)})).writes, 1);
  const std::string before = Read(sandbox.Path(kAliceKeys));
  // Keys with long comments (fewer than the keys-per-account limit fill the file).
  const auto LongKey = [](int i) { return Key(i) + std::string(300, 'p'); };
  // Enough keys to come within one line of the limit, then one comment padded to reach it.
  const auto file_size = [&](const std::vector<std::string>& k) {
    Sandbox probe;
    probe.Apply(Desired(2, "alice", k));
    return Read(probe.Path(kAliceKeys)).size();
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i) keys.push_back(LongKey(i));
  const size_t base = file_size(keys);
  const size_t per_key = LongKey(2000).size() + 1;  // a line and its newline
  ASSERT_LT(base, kMaxAuthorizedKeysFileBytes);
  while (base + (keys.size() - 2000 + 1) * per_key < kMaxAuthorizedKeysFileBytes) {
    keys.push_back(LongKey(static_cast<int>(keys.size())));
  }
  const size_t size = file_size(keys);
  ASSERT_LE(size, kMaxAuthorizedKeysFileBytes);
  keys.back() += std::string(kMaxAuthorizedKeysFileBytes - size, 'c');  // comment padding
  ApplyReport at_limit = sandbox.Apply(Desired(2, "alice", keys));
  ASSERT_EQ(at_limit.accounts.size(), 1u);
  EXPECT_EQ(at_limit.accounts[0].outcome, AccountOutcome::kWritten) << at_limit.accounts[0].detail;
  ASSERT_EQ(Read(sandbox.Path(kAliceKeys)).size(), kMaxAuthorizedKeysFileBytes);

  keys.back() += "c";
  ApplyReport past = sandbox.Apply(Desired(3, "alice", keys));
  ASSERT_EQ(past.accounts.size(), 1u);
  EXPECT_EQ(past.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_TRUE(NotApplied(past.accounts[0]));
  EXPECT_THAT(past.accounts[0].detail, HasSubstr("1048576-byte limit"));
  EXPECT_EQ(Read(sandbox.Path(kAliceKeys)).size(), kMaxAuthorizedKeysFileBytes) << "unchanged";
  (void)before;
}

// Managed keys per account (common/delivery_limits.h): the controller refuses more, and an
// agent that gets more anyway (two racing mutations) refuses the account rather than write it.
TEST(Apply, KeysPerAccountAtTheLimitAndOnePast) {
  Sandbox sandbox;
  std::vector<std::string> keys;
  for (size_t i = 0; i < kMaxManagedKeysPerAccount; ++i) keys.push_back(Key(static_cast<int>(i)));
  ApplyReport at_limit = sandbox.Apply(Desired(1, "alice", keys));
  ASSERT_EQ(at_limit.accounts.size(), 1u);
  EXPECT_EQ(at_limit.accounts[0].outcome, AccountOutcome::kWritten) << at_limit.accounts[0].detail;
  const std::string written = Read(sandbox.Path(kAliceKeys));
  keys.push_back(Key(static_cast<int>(kMaxManagedKeysPerAccount)));
  ApplyReport past = sandbox.Apply(Desired(2, "alice", keys));
  ASSERT_EQ(past.accounts.size(), 1u);
  EXPECT_EQ(past.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT(past.accounts[0].detail, HasSubstr("4097 managed keys; the limit is 4096"));
  EXPECT_EQ(Read(sandbox.Path(kAliceKeys)), written) << "nothing written";
}

TEST(Apply, ExclusiveAccountsDropUnmanagedKeys) {
  Sandbox sandbox;
  sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  sandbox.Write(kAliceKeys, "# note\n" + Key(9) + "\n", 0600, kAlice);
  ApplyReport report = sandbox.Apply(Desired(1, "alice", {Key(1)}, /*exclusive=*/true));
  EXPECT_EQ(report.writes, 1);
  EXPECT_EQ(Read(sandbox.Path(kAliceKeys)), RenderManagedBlock({Key(1)}, 1) + "# note\n");
}

TEST(Apply, ADamagedMarkerIsDriftAndNeverDeletesUserLines) {
  Sandbox sandbox;
  sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  const std::string forged = Key(9) + "\n# keyfleet:end\n" + Key(8) + "\n";
  sandbox.Write(kAliceKeys, forged, 0600, kAlice);
  ApplyReport report = sandbox.Apply(Desired(1, "alice", {Key(1)}, /*exclusive=*/true));
  EXPECT_EQ(report.writes, 0);
  ASSERT_FALSE(report.drift.empty());
  EXPECT_EQ(report.drift[0].kind, v1::DRIFT_KIND_DAMAGED_MARKER);
  EXPECT_EQ(Read(sandbox.Path(kAliceKeys)), forged);
}

TEST(Apply, AuthorizedKeys2IsReported) {
  Sandbox sandbox;
  sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  sandbox.Write("home/alice/.ssh/authorized_keys2", Key(5) + "\n", 0600, kAlice);
  ApplyReport report = sandbox.Apply(Desired(1, "alice", {Key(1)}));
  bool reported = false;
  for (const Drift& d : report.drift) reported |= d.kind == v1::DRIFT_KIND_AUTHORIZED_KEYS2;
  EXPECT_TRUE(reported);
}

// kill -9 the applying process at random moments, 200 times: the file is always exactly the
// old or the new content (never empty or partial), and the unmanaged lines survive.
TEST(Apply, KillNineMidWriteLeavesTheOldOrTheNewFile) {
  Sandbox sandbox;
  sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  const std::string user = "# unmanaged\r\n" + Key(99) + " mine";
  sandbox.Write(kAliceKeys, user, 0600, kAlice);
  std::vector<std::string> big_a, big_b;
  for (int i = 0; i < 200; ++i) {
    big_a.push_back(Key(1000 + i));
    big_b.push_back(Key(2000 + i));
  }
  const v1::DesiredState a = Desired(1, "alice", big_a);
  const v1::DesiredState b = Desired(2, "alice", big_b);
  const std::string content_a = RenderManagedBlock(big_a, 1) + user;
  const std::string content_b = RenderManagedBlock(big_b, 2) + user;
  ASSERT_EQ(sandbox.Apply(a).writes, 1);
  ASSERT_EQ(Read(sandbox.Path(kAliceKeys)), content_a);

  std::mt19937 rng(12345);
  int saw_a = 0, saw_b = 0;
  for (int cycle = 0; cycle < 200; ++cycle) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (uint64_t i = 0;; ++i) sandbox.Apply(i % 2 ? a : b);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    const std::string now = Read(sandbox.Path(kAliceKeys));
    if (now == content_a) {
      ++saw_a;
    } else if (now == content_b) {
      ++saw_b;
    } else {
      FAIL() << "cycle " << cycle << ": file is neither version (" << now.size() << " bytes)";
    }
  }
  EXPECT_GT(saw_a + saw_b, 0);
  // Leftover temp files are cleaned up by the next apply.
  sandbox.Apply(a);
  int temps = 0;
  for (const auto& entry : std::filesystem::directory_iterator(sandbox.Path("home/alice/.ssh"))) {
    temps += entry.path().filename().string().rfind(kTempPrefix, 0) == 0;
  }
  EXPECT_EQ(temps, 0);
  std::printf("kill -9 cycles: 200, ended with old=%d new=%d\n", saw_a, saw_b);
}

}  // namespace
}  // namespace keyfleet::agent::testing
