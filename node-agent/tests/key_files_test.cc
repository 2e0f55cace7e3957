// key_files: central and both over a sandbox root: root-owned files users cannot edit, the home
// block removed, switching modes, hostile paths, and the keys index written beside them. Runs
// as root (see sandbox.h).
#include "node-agent/key_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/sha256.h"
#include "node-agent/keys_index.h"
#include "node-agent/keys_index_file.h"
#include "node-agent/managed_block.h"
#include "node-agent/tests/sandbox.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent::testing {
namespace {

using ::testing::HasSubstr;

std::string Key(int n) {
  return ::keyfleet::testing::SyntheticEd25519Line(n, "k");
}
const char kAliceHome[] = "home/alice/.ssh/authorized_keys";
const char kAliceCentral[] = "etc/ssh/keyfleet/authorized_keys/alice";
const char kIndexDir[] = "/var/lib/keyfleet/keys-index";

// A sandbox with /etc/ssh and /var/lib/keyfleet as a host has them.
struct Host {
  Host() {
    sandbox.Mkdir("etc/ssh", 0755, 0);
    sandbox.Mkdir("var", 0755, 0);
    sandbox.Mkdir("var/lib", 0755, 0);
    sandbox.Mkdir("var/lib/keyfleet", 0700, 0);
  }
  ApplyReport Apply(const v1::DesiredState& desired, v1::KeyFilesMode mode,
                    const PreviousLines* previous = nullptr) const {
    ApplySettings settings;
    settings.root = sandbox.root();
    settings.key_files = mode;
    settings.keys_index_dir = kIndexDir;
    PasswdFile passwd = *PasswdFile::Load(sandbox.Path("etc/passwd"));
    return ApplyDesiredState(desired, settings, passwd, previous);
  }
  Sandbox sandbox;
};

bool HasDrift(const ApplyReport& r, v1::DriftKind kind, bool repaired) {
  for (const Drift& d : r.drift) {
    if (d.kind == kind && d.repaired == repaired) return true;
  }
  return false;
}

TEST(CentralKeyFiles, WritesARootOwnedFileUsersCannotEdit) {
  Host host;
  ApplyReport report =
      host.Apply(Desired(3, "alice", {Key(1), Key(2)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(report.key_files, v1::KEY_FILES_MODE_CENTRAL);
  ASSERT_EQ(report.accounts.size(), 1u);
  EXPECT_EQ(report.accounts[0].outcome, AccountOutcome::kWritten) << ApplyReportToJson(report);
  FileState file = Snapshot(host.sandbox.Path(kAliceCentral));
  EXPECT_EQ(file.content, RenderManagedBlock({Key(1), Key(2)}, 3));
  EXPECT_EQ(file.uid, 0u);
  EXPECT_EQ(file.mode & 07777, 0644u);
  for (const char* dir : {"etc/ssh/keyfleet", "etc/ssh/keyfleet/authorized_keys"}) {
    FileState d = Snapshot(host.sandbox.Path(dir));
    EXPECT_EQ(d.uid, 0u) << dir;
    EXPECT_EQ(d.mode & 07777, 0755u) << dir;
  }
  EXPECT_FALSE(Snapshot(host.sandbox.Path(kAliceHome)).exists) << "no home file in central mode";
  // What sshd reads in this mode is what the report observes.
  ASSERT_EQ(report.observed.size(), 1u);
  ASSERT_EQ(report.observed[0].lines_size(), 2);
  EXPECT_TRUE(report.observed[0].lines(0).managed());
  EXPECT_EQ(report.observed[0].lines(0).file(), "/etc/ssh/keyfleet/authorized_keys/alice");
  // A second apply writes nothing.
  FileState before = Snapshot(host.sandbox.Path(kAliceCentral));
  ApplyReport again = host.Apply(Desired(3, "alice", {Key(1), Key(2)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(again.writes, 0) << ApplyReportToJson(again);
  EXPECT_TRUE(Snapshot(host.sandbox.Path(kAliceCentral)) == before);
}

TEST(CentralKeyFiles, CentralModeRemovesTheHomeBlockAndKeepsTheUsersLines) {
  Host host;
  host.sandbox.Mkdir("home/alice/.ssh", 0700, kAlice);
  host.sandbox.Write(kAliceHome, "# mine\n" + Key(9) + "\n", 0600, kAlice);
  // The home file and the keys index.
  ASSERT_EQ(host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_HOME).writes, 2);
  ASSERT_THAT(Read(host.sandbox.Path(kAliceHome)), HasSubstr(Key(1)));
  ApplyReport central = host.Apply(Desired(4, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(central.accounts[0].outcome, AccountOutcome::kWritten) << ApplyReportToJson(central);
  EXPECT_EQ(Read(host.sandbox.Path(kAliceHome)), "# mine\n" + Key(9) + "\n");
  EXPECT_EQ(Read(host.sandbox.Path(kAliceCentral)), RenderManagedBlock({Key(1)}, 4));
  // Back to home: the home block returns and the central file goes.
  ApplyReport home = host.Apply(Desired(5, "alice", {Key(1)}), v1::KEY_FILES_MODE_HOME);
  EXPECT_THAT(Read(host.sandbox.Path(kAliceHome)), HasSubstr(Key(1)));
  EXPECT_FALSE(Snapshot(host.sandbox.Path(kAliceCentral)).exists) << ApplyReportToJson(home);
}

TEST(CentralKeyFiles, BothModeWritesBothAndObservesBoth) {
  Host host;
  ApplyReport report = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_BOTH);
  EXPECT_EQ(report.writes, 3) << "home file, central file, index: " << ApplyReportToJson(report);
  EXPECT_THAT(Read(host.sandbox.Path(kAliceHome)), HasSubstr(Key(1)));
  EXPECT_THAT(Read(host.sandbox.Path(kAliceCentral)), HasSubstr(Key(1)));
  ASSERT_EQ(report.observed.size(), 1u);
  ASSERT_EQ(report.observed[0].lines_size(), 2);
  EXPECT_EQ(report.observed[0].lines(0).file(), "authorized_keys");
  EXPECT_EQ(report.observed[0].lines(1).file(), "/etc/ssh/keyfleet/authorized_keys/alice");
}

TEST(CentralKeyFiles, DroppedAndUnknownAccountsLoseTheirFiles) {
  Host host;
  v1::DesiredState two = Desired(3, "alice", {Key(1)});
  v1::AccountKeys* bob = two.add_accounts();
  bob->set_account("bob");
  bob->add_keys(Key(2));
  ASSERT_EQ(host.Apply(two, v1::KEY_FILES_MODE_CENTRAL).writes, 4);
  // A file the agent never wrote, for an account that is not in the state.
  host.sandbox.Write("etc/ssh/keyfleet/authorized_keys/mallory", Key(7) + "\n", 0644, 0);
  // bob carried as "no managed keys", as the reconciler does for a dropped account.
  v1::DesiredState one = Desired(4, "alice", {Key(1)});
  one.add_accounts()->set_account("bob");
  ApplyReport report = host.Apply(one, v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(report.accounts[1].outcome, AccountOutcome::kWritten) << ApplyReportToJson(report);
  EXPECT_FALSE(Snapshot(host.sandbox.Path("etc/ssh/keyfleet/authorized_keys/bob")).exists);
  EXPECT_FALSE(Snapshot(host.sandbox.Path("etc/ssh/keyfleet/authorized_keys/mallory")).exists);
  EXPECT_FALSE(Snapshot(host.sandbox.Path(std::string(kIndexDir).substr(1) + "/bob")).exists);
  EXPECT_TRUE(Snapshot(host.sandbox.Path(kAliceCentral)).exists);
}

TEST(CentralKeyFiles, AFileAUserOwnsOrAWrongModeIsReplaced) {
  Host host;
  ASSERT_EQ(host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL).writes, 2);
  host.sandbox.Write(kAliceCentral, Key(1) + "\n" + Key(66) + "\n", 0664, kAlice);
  ApplyReport report = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_TRUE(HasDrift(report, v1::DRIFT_KIND_WRONG_OWNER, true)) << ApplyReportToJson(report);
  EXPECT_TRUE(HasDrift(report, v1::DRIFT_KIND_WRONG_MODE, true));
  EXPECT_TRUE(HasDrift(report, v1::DRIFT_KIND_MANAGED_KEY_EDITED, true));
  FileState file = Snapshot(host.sandbox.Path(kAliceCentral));
  EXPECT_EQ(file.uid, 0u);
  EXPECT_EQ(file.mode & 07777, 0644u);
  EXPECT_EQ(file.content, RenderManagedBlock({Key(1)}, 3));
}

TEST(CentralKeyFiles, ASymlinkedDirectoryIsRefusedAndNothingIsWrittenThroughIt) {
  Host host;
  ::keyfleet::testing::ScopedTempDir elsewhere("keyfleet-elsewhere");
  ASSERT_EQ(symlink(elsewhere.path().c_str(), host.sandbox.Path("etc/ssh/keyfleet").c_str()), 0);
  ApplyReport report = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  ASSERT_EQ(report.accounts.size(), 1u);
  EXPECT_EQ(report.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT(report.accounts[0].detail, HasSubstr("is a symbolic link"));
  EXPECT_TRUE(HasDrift(report, v1::DRIFT_KIND_UNSAFE_PATH, false));
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere.path()));
}

TEST(CentralKeyFiles, ADirectoryAUserOwnsIsRefusedAndAWritableOneRepaired) {
  Host host;
  host.sandbox.Mkdir("etc/ssh/keyfleet", 0755, kAlice);
  ApplyReport refused = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(refused.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT(refused.accounts[0].detail, HasSubstr("owned by uid 2001, not root"));
  host.sandbox.Mkdir("etc/ssh/keyfleet", 0777, 0);
  ApplyReport repaired = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(repaired.accounts[0].outcome, AccountOutcome::kWritten) << ApplyReportToJson(repaired);
  EXPECT_EQ(Snapshot(host.sandbox.Path("etc/ssh/keyfleet")).mode & 07777, 0755u);
  EXPECT_TRUE(HasDrift(repaired, v1::DRIFT_KIND_WRONG_MODE, true));
  // /etc/ssh is the system's: a group-writable one is refused, never changed.
  host.sandbox.Mkdir("etc/ssh", 0775, 0);
  ApplyReport system = host.Apply(Desired(4, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(system.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT(system.accounts[0].detail, HasSubstr("chmod go-w"));
  EXPECT_EQ(Snapshot(host.sandbox.Path("etc/ssh")).mode & 07777, 0775u);
}

TEST(CentralKeyFiles, ASymlinkInPlaceOfTheFileIsReplacedNotFollowed) {
  Host host;
  ASSERT_EQ(host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL).writes, 2);
  const FileState shadow = Snapshot(host.sandbox.Path("etc/shadow"));
  ASSERT_EQ(unlink(host.sandbox.Path(kAliceCentral).c_str()), 0);
  ASSERT_EQ(
      symlink(host.sandbox.Path("etc/shadow").c_str(), host.sandbox.Path(kAliceCentral).c_str()),
      0);
  ApplyReport report = host.Apply(Desired(3, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_TRUE(HasDrift(report, v1::DRIFT_KIND_UNSAFE_PATH, true)) << ApplyReportToJson(report);
  EXPECT_TRUE(Snapshot(host.sandbox.Path("etc/shadow")) == shadow);
  EXPECT_EQ(Read(host.sandbox.Path(kAliceCentral)), RenderManagedBlock({Key(1)}, 3));
}

TEST(CentralKeyFiles, AnOlderStateNeverReplacesANewerCentralFile) {
  Host host;
  ASSERT_EQ(host.Apply(Desired(9, "alice", {Key(1)}), v1::KEY_FILES_MODE_CENTRAL).writes, 2);
  ApplyReport older = host.Apply(Desired(8, "alice", {Key(2)}), v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(older.accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_EQ(Read(host.sandbox.Path(kAliceCentral)), RenderManagedBlock({Key(1)}, 9));
}

TEST(KeysIndexFiles, WrittenOnlyWhenTheLinesChangeAndFoundByFingerprint) {
  Host host;
  ASSERT_EQ(host.Apply(Desired(3, "alice", {Key(1), Key(2)}), v1::KEY_FILES_MODE_HOME).writes, 2);
  const std::string index = host.sandbox.Path(std::string(kIndexDir).substr(1) + "/alice");
  FileState first = Snapshot(index);
  EXPECT_EQ(first.uid, 0u);
  EXPECT_EQ(first.mode & 07777, kKeysIndexFileMode);
  EXPECT_EQ(Snapshot(host.sandbox.Path("var/lib/keyfleet/keys-index")).mode & 07777, 0755u);
  EXPECT_EQ(host.Apply(Desired(4, "alice", {Key(1), Key(2)}), v1::KEY_FILES_MODE_HOME).writes, 1)
      << "the home block's generation changed, the index's lines did not";
  EXPECT_TRUE(Snapshot(index) == first);
  const std::string content = Read(index);  // the view below reads it
  KeysIndexBytes bytes(content);
  EXPECT_THAT(*ValidateKeysIndex(bytes), ::testing::ElementsAre(Key(1), Key(2)));
  ASSERT_EQ(host.Apply(Desired(5, "alice", {Key(2)}), v1::KEY_FILES_MODE_HOME).writes, 2);
  absl::StatusOr<std::string> found =
      LookupKeysIndexFile(host.sandbox.Path("var/lib/keyfleet/keys-index"), "alice",
                          Sha256Digest(ParseAuthorizedKeysLine(Key(2))->key.FingerprintBlob()));
  // /tmp (the sandbox's parent) is world-writable: the command refuses to trust the path.
  EXPECT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), HasSubstr("/tmp: has mode 1777"));
}

TEST(KeysIndexFiles, AnOlderStateTheFilesRefuseLeavesTheIndexAlone) {
  for (v1::KeyFilesMode mode :
       {v1::KEY_FILES_MODE_HOME, v1::KEY_FILES_MODE_CENTRAL, v1::KEY_FILES_MODE_BOTH}) {
    SCOPED_TRACE(v1::KeyFilesMode_Name(mode));
    Host host;
    ASSERT_GE(host.Apply(Desired(9, "alice", {Key(2)}), mode).writes, 2);
    const std::string index = host.sandbox.Path(std::string(kIndexDir).substr(1) + "/alice");
    const FileState newer = Snapshot(index);
    // An older state (a cached one) with the key the newer state removed.
    for (int attempt = 0; attempt < 2; ++attempt) {
      ApplyReport older = host.Apply(Desired(8, "alice", {Key(1)}), mode);
      ASSERT_EQ(older.accounts.size(), 1u);
      EXPECT_EQ(older.accounts[0].outcome, AccountOutcome::kRefused) << ApplyReportToJson(older);
      EXPECT_TRUE(Snapshot(index) == newer) << "the index took the refused state's lines";
      const std::string content = Read(index);  // the view below reads it
      KeysIndexBytes bytes(content);
      EXPECT_THAT(*ValidateKeysIndex(bytes), ::testing::ElementsAre(Key(2)));
    }
  }
}

TEST(KeysIndexFiles, NoIndexWhileTheParentDirectoryIsMissing) {
  Sandbox sandbox;
  ApplySettings settings;
  settings.root = sandbox.root();
  settings.keys_index_dir = kIndexDir;
  ApplyReport report = ApplyDesiredState(Desired(3, "alice", {Key(1)}), settings,
                                         *PasswdFile::Load(sandbox.Path("etc/passwd")));
  EXPECT_EQ(report.writes, 1);
  EXPECT_TRUE(report.drift.empty()) << ApplyReportToJson(report);
}

}  // namespace
}  // namespace keyfleet::agent::testing
