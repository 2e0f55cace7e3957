// The host's KRL (revocation_file.h, revocation_keeper.h): created empty and never missing,
// brought to each desired state's revocations from recent ones or from the controller's whole
// list, left as it was when that fails, written again when someone deleted or damaged it, and
// never written through a symlink. Every file checked with ParseKrl, as sshd would read it.
#include "node-agent/revocation_keeper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/krl.h"
#include "common/sha256.h"
#include "node-agent/revocation_file.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kEpoch[] = "0123456789abcdef";
constexpr char kOtherEpoch[] = "fedcba9876543210";

std::string Digest(int n) {
  return Sha256Digest("key " + std::to_string(n));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What the file says, as sshd would read it; fails the test when it is no KRL.
RevocationSet OnDisk(const std::string& path) {
  absl::StatusOr<RevocationSet> set = ParseRevocationKrl(ReadFile(path));
  EXPECT_TRUE(set.ok()) << path << ": " << set.status();
  return set.ok() ? *set : RevocationSet{};
}

v1::DesiredState State(const std::string& epoch, uint64_t total, std::vector<int> recent) {
  v1::DesiredState state;
  state.set_epoch(epoch);
  state.set_generation(1);
  state.set_digest("d");
  state.mutable_revocations()->set_total(total);
  for (int n : recent) state.mutable_revocations()->add_recent_sha256(Digest(n));
  return state;
}

RevocationSet Set(const std::string& epoch, std::vector<int> digests) {
  RevocationSet set;
  set.epoch = epoch;
  for (int n : digests) set.sha256.insert(Digest(n));
  return set;
}

class RevocationKeeperTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path().string() + "/etc/ssh/keyfleet/revoked.krl"; }
  // A fetcher that answers `set` (or `error`) and counts its calls.
  RevocationFetcher Fetcher(absl::StatusOr<RevocationSet> answer) {
    return [this, answer] {
      ++fetches_;
      return answer;
    };
  }

  ::keyfleet::testing::ScopedTempDir dir_{"keyfleet-krl"};
  int fetches_ = 0;
};

TEST_F(RevocationKeeperTest, EnsureCreatesAnEmptyKrlReadableByAll) {
  ASSERT_TRUE(EnsureRevocationFile(Path()).ok());
  struct stat st {};
  ASSERT_EQ(stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(stat((dir_.path() / "etc/ssh/keyfleet").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(OnDisk(Path()), RevocationSet{});
}

TEST_F(RevocationKeeperTest, EnsureKeepsAValidKrlAndRepairsADamagedOne) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 2, {1, 2}), nullptr), "");
  ASSERT_TRUE(EnsureRevocationFile(Path()).ok());
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2}));  // kept
  std::ofstream(Path(), std::ios::trunc) << "not a KRL";
  ASSERT_TRUE(EnsureRevocationFile(Path()).ok());
  EXPECT_EQ(OnDisk(Path()), RevocationSet{});  // sshd would have refused every key with it
}

TEST_F(RevocationKeeperTest, RefusesSymlinksAnywhere) {
  std::filesystem::create_directories(dir_.path() / "elsewhere");
  std::filesystem::create_directories(dir_.path() / "etc/ssh");
  std::filesystem::create_directory_symlink(dir_.path() / "elsewhere",
                                            dir_.path() / "etc/ssh/keyfleet");
  absl::Status s = EnsureRevocationFile(Path());
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "elsewhere/revoked.krl"));

  std::filesystem::remove(dir_.path() / "etc/ssh/keyfleet");
  std::filesystem::create_directories(dir_.path() / "etc/ssh/keyfleet");
  std::filesystem::create_symlink(dir_.path() / "elsewhere/target", Path());
  RevocationKeeper keeper(Path());
  EXPECT_THAT(keeper.Update(State(kEpoch, 1, {1}), nullptr), HasSubstr("symlink"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "elsewhere/target"));
}

TEST_F(RevocationKeeperTest, RefusesADirectoryOthersMayWrite) {
  std::filesystem::create_directories(dir_.path() / "etc/ssh/keyfleet");
  chmod((dir_.path() / "etc/ssh/keyfleet").c_str(), 0777);
  absl::Status s = EnsureRevocationFile(Path());
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("writable by group or others"));
}

TEST_F(RevocationKeeperTest, AddsRecentRevocationsWithoutAskingTheController) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  // From the empty file: the state's recent ones are the whole list.
  EXPECT_EQ(keeper.Update(State(kEpoch, 2, {1, 2}), Fetcher(RevocationSet{})), "");
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2}));
  // One more: recent holds the newest few, with some the file already has.
  EXPECT_EQ(keeper.Update(State(kEpoch, 3, {2, 3}), Fetcher(RevocationSet{})), "");
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2, 3}));
  EXPECT_EQ(fetches_, 0);
  // The same count again: nothing to write.
  const std::string before = ReadFile(Path());
  EXPECT_EQ(keeper.Update(State(kEpoch, 3, {3}), Fetcher(RevocationSet{})), "");
  EXPECT_EQ(ReadFile(Path()), before);
  // A state carrying no revocations (an older controller) leaves the file alone.
  v1::DesiredState old_controller;
  old_controller.set_epoch(kEpoch);
  EXPECT_EQ(keeper.Update(old_controller, nullptr), "");
  EXPECT_EQ(ReadFile(Path()), before);
}

TEST_F(RevocationKeeperTest, AsksForTheWholeListWhenTooFarBehind) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 1, {1}), nullptr), "");
  // Four revocations later, only the newest is recent: 1 + 1 is not 5.
  EXPECT_EQ(keeper.Update(State(kEpoch, 5, {5}), Fetcher(Set(kEpoch, {1, 2, 3, 4, 5}))), "");
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2, 3, 4, 5}));
}

TEST_F(RevocationKeeperTest, KeepsWhatItHeldWhenTheListCannotBeHad) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 1, {1}), nullptr), "");
  const std::string before = ReadFile(Path());
  EXPECT_THAT(keeper.Update(State(kEpoch, 5, {5}), nullptr),
              HasSubstr("holds 1 of the fleet's 5 revoked keys"));
  EXPECT_THAT(keeper.Update(State(kEpoch, 5, {5}), Fetcher(absl::UnavailableError("down"))),
              HasSubstr("cannot get the fleet's revoked keys from the controller: down"));
  EXPECT_THAT(keeper.Update(State(kEpoch, 5, {5}), Fetcher(Set(kEpoch, {1, 5}))),
              HasSubstr("fewer than the 5"));
  EXPECT_THAT(keeper.Update(State(kEpoch, 5, {5}), Fetcher(Set(kOtherEpoch, {1, 2, 3, 4, 5}))),
              HasSubstr("of epoch fedcba9876543210"));
  EXPECT_EQ(ReadFile(Path()), before);
}

TEST_F(RevocationKeeperTest, ANewEpochReplacesTheList) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 3, {1, 2, 3}), nullptr), "");
  // A restored database: its own list, asked for whole even though the counts would add up.
  EXPECT_EQ(keeper.Update(State(kOtherEpoch, 2, {7}), Fetcher(Set(kOtherEpoch, {6, 7}))), "");
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(OnDisk(Path()), Set(kOtherEpoch, {6, 7}));
}

TEST_F(RevocationKeeperTest, WritesADeletedOrDamagedKrlAgainAtOnce) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 2, {1, 2}), nullptr), "");
  std::filesystem::remove(Path());
  // The same state again (a recheck): no controller needed, what it held is written back.
  EXPECT_EQ(keeper.Update(State(kEpoch, 2, {2}), nullptr), "");
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2}));
  std::ofstream(Path(), std::ios::trunc) << "garbage";
  EXPECT_EQ(keeper.Update(State(kEpoch, 2, {2}), nullptr), "");
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1, 2}));
}

TEST_F(RevocationKeeperTest, ADeletedKrlIsNeverLeftMissingEvenWhenBehind) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  ASSERT_EQ(keeper.Update(State(kEpoch, 1, {1}), nullptr), "");
  std::filesystem::remove(Path());
  EXPECT_THAT(keeper.Update(State(kEpoch, 5, {5}), nullptr), HasSubstr("cannot be asked"));
  EXPECT_EQ(OnDisk(Path()), Set(kEpoch, {1}));  // back, with what it held
}

// Sessions are ended for keys revoked with kill_sessions, once: when the KRL first holds them.
TEST_F(RevocationKeeperTest, SaysWhichNewlyRevokedKeysEndTheirSessions) {
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  v1::DesiredState state = State(kEpoch, 2, {1, 2});
  state.mutable_revocations()->add_kill_sessions_sha256(Digest(2));
  std::vector<std::string> end;
  EXPECT_EQ(keeper.Update(state, nullptr, &end), "");
  EXPECT_EQ(end, std::vector<std::string>{Digest(2)});
  EXPECT_EQ(keeper.Update(state, nullptr, &end), "");
  EXPECT_TRUE(end.empty()) << "already in the KRL: its sessions were ended before";
  // Far behind: the whole list says which to end; those the KRL held are not ended again.
  RevocationSet whole = Set(kEpoch, {1, 2, 3, 4, 5});
  whole.kill_sessions = {Digest(2), Digest(4)};
  EXPECT_EQ(keeper.Update(State(kEpoch, 5, {5}), Fetcher(whole), &end), "");
  EXPECT_EQ(end, std::vector<std::string>{Digest(4)});
}

TEST_F(RevocationKeeperTest, StartRemovesLeftoversOfInterruptedWrites) {
  std::filesystem::create_directories(dir_.path() / "etc/ssh/keyfleet");
  const auto leftover = dir_.path() / "etc/ssh/keyfleet/.keyfleet-tmp-revoked.krl.0badf00d";
  std::ofstream(leftover) << "half";
  RevocationKeeper keeper(Path());
  ASSERT_TRUE(keeper.Start().ok());
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_EQ(OnDisk(Path()), RevocationSet{});
}

TEST(RevocationFileTest, ParsesOnlyItsOwnCommentAsAnEpoch) {
  Krl krl;
  krl.sha256 = {Digest(1)};
  krl.version = 1;
  for (const std::string& comment :
       {std::string("keyfleet revoked keys; epoch 0123456789ABCDEF"),
        std::string("keyfleet revoked keys; epoch 0123"), std::string("someone else's"),
        std::string("keyfleet revoked keys; epoch 0123456789abcdef ")}) {
    krl.comment = comment;
    absl::StatusOr<std::string> bytes = BuildKrl(krl);
    ASSERT_TRUE(bytes.ok());
    absl::StatusOr<RevocationSet> set = ParseRevocationKrl(*bytes);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->epoch, "") << comment;
    EXPECT_EQ(set->sha256, krl.sha256);
  }
  krl.comment = "keyfleet revoked keys; epoch 0123456789abcdef";
  krl.version = 2;  // not the count: not as this agent writes it
  absl::StatusOr<RevocationSet> set = ParseRevocationKrl(*BuildKrl(krl));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->epoch, "");
  krl.version = 1;
  set = ParseRevocationKrl(*BuildKrl(krl));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->epoch, kEpoch);
}

}  // namespace
}  // namespace keyfleet::agent
