// The reconciler's rules: never older generations, dropped accounts lose their managed keys,
// the cache survives a restart and is enforced before any network; the cache's slots.
#include "node-agent/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "node-agent/cache.h"
#include "node-agent/managed_block.h"
#include "node-agent/tests/sandbox.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent::testing {
namespace {

std::string Key(int n) {
  return ::keyfleet::testing::SyntheticEd25519Line(n, "k");
}

v1::DesiredState State(
    uint64_t generation, const std::string& digest,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& accounts) {
  v1::DesiredState d;
  d.set_generation(generation);
  d.set_digest(digest);
  for (const auto& [name, keys] : accounts) {
    auto* a = d.add_accounts();
    a->set_account(name);
    for (const auto& k : keys) a->add_keys(k);
  }
  return d;
}

v1::DesiredState EpochState(
    const std::string& epoch, uint64_t generation, const std::string& digest,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& accounts) {
  v1::DesiredState d = State(generation, digest, accounts);
  d.set_epoch(epoch);
  return d;
}

constexpr char kEpochA[] = "aaaaaaaaaaaaaaa1";
constexpr char kEpochB[] = "bbbbbbbbbbbbbbb2";

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerSettings Settings() {
    ReconcilerSettings s;
    s.apply.root = sandbox_.root();
    s.cache_path = sandbox_.Path("agent-cache");
    return s;
  }
  std::string Alice() { return Read(sandbox_.Path("home/alice/.ssh/authorized_keys")); }
  Sandbox sandbox_;
};

TEST_F(ReconcilerTest, NeverAppliesAnOlderGeneration) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(State(5, "d5", {{"alice", {Key(1), Key(2)}}})));
  EXPECT_FALSE(r.Offer(State(4, "d4", {{"alice", {}}}))) << "older: ignored";
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1), Key(2)}, 5));
  EXPECT_FALSE(r.Offer(State(5, "d5", {{"alice", {Key(1), Key(2)}}}))) << "same: nothing to do";
  // Same generation, new digest (an expiry recomputed by the controller): applied.
  ASSERT_TRUE(r.Offer(State(5, "d5b", {{"alice", {Key(1)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, 5));
}

TEST_F(ReconcilerTest, AnAccountDroppedFromTheStateLosesItsManagedKeys) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(State(1, "a", {{"alice", {Key(1)}}, {"bob", {Key(2)}}})));
  ASSERT_TRUE(r.Offer(State(2, "b", {{"bob", {Key(2)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({}, 2));
}

// A removed grant to root (refused here) or to an account this host lacks used to leave its
// drift reported for ever: the emptied account stayed in every later state.
TEST_F(ReconcilerTest, ARemovedGrantToARefusedOrMissingAccountLeavesNoDriftBehind) {
  auto kinds = [](const ApplyReport& report) {
    std::set<std::string> out;
    for (const Drift& d : report.drift) out.insert(d.account + ":" + v1::DriftKind_Name(d.kind));
    return out;
  };
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  auto first =
      r.Offer(State(1, "a", {{"alice", {Key(1)}}, {"root", {Key(2)}}, {"ghost", {Key(3)}}}));
  ASSERT_TRUE(first);
  EXPECT_THAT(kinds(*first), ::testing::IsSupersetOf({"root:DRIFT_KIND_REFUSED_ACCOUNT",
                                                      "ghost:DRIFT_KIND_NO_SUCH_ACCOUNT"}));
  auto second = r.Offer(State(2, "b", {{"alice", {Key(1)}}}));
  ASSERT_TRUE(second);
  EXPECT_THAT(kinds(*second), ::testing::IsEmpty());
  EXPECT_THAT(kinds(*r.Recheck()), ::testing::IsEmpty());
  auto third = r.Offer(State(3, "c", {{"alice", {Key(4)}}}));
  ASSERT_TRUE(third);
  EXPECT_THAT(kinds(*third), ::testing::IsEmpty());
  // Still carried (silently): if ghost appears or root is allowed later, whatever block is there
  // gets emptied.
  EXPECT_THAT(r.applied()->accounts(), ::testing::SizeIs(3));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(4)}, 3));
}

// An emptied account is carried until an apply really emptied its file: a failed apply in
// between (here: passwd unreadable) does not drop it, and the revoked key's block goes later.
TEST_F(ReconcilerTest, ADroppedAccountIsCarriedUntilItsFileWasEmptied) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(State(1, "a", {{"alice", {Key(1)}}, {"bob", {Key(2)}}})));
  const std::string passwd = sandbox_.Path("etc/passwd");
  const std::string saved = passwd + ".saved";
  ASSERT_EQ(rename(passwd.c_str(), saved.c_str()), 0);
  ASSERT_TRUE(r.Offer(State(2, "b", {{"bob", {Key(2)}}})));  // fails: no passwd
  ASSERT_EQ(rename(saved.c_str(), passwd.c_str()), 0);
  ASSERT_TRUE(r.Offer(State(3, "c", {{"bob", {Key(3)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({}, 3)) << "alice's block was emptied after all";
  ASSERT_TRUE(r.Offer(State(4, "d", {{"bob", {Key(3)}}})));
  EXPECT_THAT(r.applied()->accounts(), ::testing::SizeIs(1)) << "and then she is dropped";
}

TEST_F(ReconcilerTest, TheCacheIsEnforcedAfterARestartWithoutTheController) {
  {
    Reconciler r(Settings());
    ASSERT_TRUE(r.Start().ok());
    ASSERT_TRUE(r.Offer(State(3, "c", {{"alice", {Key(7)}}})));
  }
  struct stat st;
  ASSERT_EQ(stat(sandbox_.Path("agent-cache.1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // Someone removes the file while the agent is down; a new agent restores it from the cache.
  ASSERT_EQ(unlink(sandbox_.Path("home/alice/.ssh/authorized_keys").c_str()), 0);
  Reconciler again(Settings());
  auto started = again.Start();
  ASSERT_TRUE(started.ok());
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->writes, 1);
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(7)}, 3));
  EXPECT_FALSE(again.Offer(State(2, "old", {{"alice", {}}}))) << "the cache sets the floor";
}

TEST_F(ReconcilerTest, RecheckRepairsLocalEdits) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(State(1, "a", {{"alice", {Key(1)}}})));
  sandbox_.Write("home/alice/.ssh/authorized_keys", "# wiped\n", 0600, kAlice);
  auto report = r.Recheck();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->writes, 1);
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, 1) + "# wiped\n");
}

TEST_F(ReconcilerTest, ADamagedBlockIsRepairedFromWhatWasAppliedAndUserLinesSurvive) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(State(1, "a", {{"alice", {Key(1), Key(2)}}})));
  // A user copies the block and adds their own line: two begin markers now.
  const std::string user_line = "# my note\r\n" + Key(9) + " mine";
  sandbox_.Write("home/alice/.ssh/authorized_keys",
                 Alice() + user_line + "\n" + RenderManagedBlock({Key(1), Key(2)}, 1), 0600,
                 kAlice);
  // Key 2 is revoked: it must leave the file even though the markers are damaged.
  auto report = r.Offer(State(2, "b", {{"alice", {Key(1)}}}));
  ASSERT_TRUE(report);
  ASSERT_FALSE(report->drift.empty());
  EXPECT_EQ(report->drift[0].kind, v1::DRIFT_KIND_DAMAGED_MARKER);
  EXPECT_TRUE(report->drift[0].repaired);
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, 2) + user_line + "\n");
}

// An untrusted or damaged cache is never used, and never keeps the agent from the controller:
// nothing is applied from it (the files stay as they are) and the controller's first state is.
TEST_F(ReconcilerTest, AnUnusableCacheIsSkippedNotFatal) {
  {
    Reconciler first(Settings());
    ASSERT_TRUE(first.Start().ok());
    ASSERT_TRUE(first.Offer(State(4, "d", {{"alice", {Key(1)}}})));
  }
  const std::string before = Alice();
  ASSERT_EQ(unlink(sandbox_.Path("agent-cache.1").c_str()), 0);
  sandbox_.Write("agent-cache.0", "garbage", 0644, 0);  // not ours: not trusted, not written
  {
    Reconciler r(Settings());
    auto started = r.Start();
    ASSERT_TRUE(started.ok()) << started.status();
    EXPECT_FALSE(started->has_value()) << "nothing enforced from an untrusted cache";
    EXPECT_EQ(Alice(), before);
    ASSERT_TRUE(r.Offer(State(5, "e", {{"alice", {Key(2)}}})));
    EXPECT_EQ(Alice(), RenderManagedBlock({Key(2)}, 5)) << "the controller's state is applied";
    EXPECT_EQ(Read(sandbox_.Path("agent-cache.0")), "garbage") << "never written through";
  }
  ASSERT_EQ(unlink(sandbox_.Path("agent-cache.0").c_str()), 0);
  sandbox_.Write("agent-cache.0", "\xff\xff\xff", 0600, 0);  // ours, but damaged
  sandbox_.Write("agent-cache.1", "\x01\x02", 0600, 0);
  Reconciler r(Settings());
  auto started = r.Start();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_FALSE(started->has_value());
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(2)}, 5));
  ASSERT_TRUE(r.Offer(State(6, "f", {{"alice", {Key(3)}}})));
  auto reloaded = DesiredStateCache(sandbox_.Path("agent-cache")).Load();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_TRUE(reloaded->has_value()) << "saved over a damaged slot";
  EXPECT_EQ((*reloaded)->generation(), 6u);
}

// The newest slot is damaged and the controller is away: the older slot still holds a key a
// newer state removed (revoked) from the files. It is not put back: a block written at a newer
// generation is left as it is until the controller sends a newer state.
TEST_F(ReconcilerTest, AnOlderCachedStateNeverPutsBackWhatANewerOneRemoved) {
  {
    Reconciler r(Settings());
    ASSERT_TRUE(r.Start().ok());
    ASSERT_TRUE(r.Offer(State(1, "a", {{"alice", {Key(1), Key(2)}}})));  // slot 1
    ASSERT_TRUE(r.Offer(State(2, "b", {{"alice", {Key(1)}}})));          // slot 0: key 2 revoked
  }
  std::string newest = Read(sandbox_.Path("agent-cache.0"));
  newest[newest.size() / 2] ^= 0x55;  // a damaged write of the newest state
  sandbox_.Write("agent-cache.0", newest, 0600, 0);
  Reconciler again(Settings());
  auto started = again.Start();
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_TRUE(started->has_value()) << "the older slot is enforced where it is not stale";
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, 2)) << "key 2 stays removed";
  ASSERT_EQ((*started)->accounts.size(), 1u);
  EXPECT_EQ((*started)->accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT((*started)->accounts[0].detail,
              ::testing::HasSubstr("newer than this state's generation 1"));
  ASSERT_TRUE(again.Recheck());
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, 2)) << "nor on a recheck";
  ASSERT_TRUE(again.Offer(State(3, "c", {{"alice", {Key(1), Key(4)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1), Key(4)}, 3));
}

// A database restored from an older copy (or rebuilt) counts from a lower number under a new
// epoch: its states are applied, not ignored as "older than applied"; within it, the
// generations order states again.
TEST_F(ReconcilerTest, ANewEpochIsFollowedWhateverItsGeneration) {
  Reconciler r(Settings());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Offer(EpochState(kEpochA, 50, "a", {{"alice", {Key(1), Key(2)}}})));
  auto restored = r.Offer(EpochState(kEpochB, 3, "b", {{"alice", {Key(1)}}}));
  ASSERT_TRUE(restored) << "a new epoch is applied at a lower generation";
  EXPECT_EQ(restored->epoch, kEpochB);
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, StateVersion(kEpochB, 3)));
  EXPECT_FALSE(r.Offer(EpochState(kEpochB, 2, "c", {{"alice", {}}}))) << "older in epoch B";
  ASSERT_TRUE(r.Offer(EpochState(kEpochB, 4, "d", {{"alice", {Key(3)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(3)}, StateVersion(kEpochB, 4)));
  EXPECT_FALSE(r.Offer(EpochState("BBBBBBBBBBBBBBB2", 9, "e", {{"alice", {}}})))
      << "a malformed epoch is refused, never written into a file";
  EXPECT_FALSE(r.Offer(EpochState("bbbb", 9, "e", {{"alice", {}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(3)}, StateVersion(kEpochB, 4)));
  // A restart starts from the cache: epoch B, generation 4.
  Reconciler again(Settings());
  auto started = again.Start();
  ASSERT_TRUE(started.ok() && started->has_value());
  EXPECT_EQ((*started)->accounts[0].outcome, AccountOutcome::kUnchanged);
}

// The newest cache slot (epoch B) is damaged and the older one is from epoch A: its numbers
// cannot be compared with the file's block, so the cached state leaves the file alone (it may
// be the older history); the controller's state, of whatever epoch, is written.
TEST_F(ReconcilerTest, ACachedStateOfAnotherEpochLeavesTheFilesAlone) {
  {
    Reconciler r(Settings());
    ASSERT_TRUE(r.Start().ok());
    ASSERT_TRUE(r.Offer(EpochState(kEpochA, 90, "a", {{"alice", {Key(1), Key(2)}}})));  // slot 1
    ASSERT_TRUE(r.Offer(EpochState(kEpochB, 3, "b", {{"alice", {Key(1)}}})));  // slot 0
  }
  std::string newest = Read(sandbox_.Path("agent-cache.0"));
  newest[newest.size() / 2] ^= 0x55;
  sandbox_.Write("agent-cache.0", newest, 0600, 0);
  Reconciler again(Settings());
  auto started = again.Start();
  ASSERT_TRUE(started.ok() && started->has_value());
  ASSERT_EQ((*started)->accounts.size(), 1u);
  EXPECT_EQ((*started)->accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_THAT((*started)->accounts[0].detail, ::testing::HasSubstr("of epoch " +
                                                                   std::string(kEpochB)));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, StateVersion(kEpochB, 3))) << "key 2 stays out";
  ASSERT_TRUE(again.Recheck());
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, StateVersion(kEpochB, 3)));
  // A lagging replica of epoch B: older than the file's block, still not written.
  auto lagging = again.Offer(EpochState(kEpochB, 2, "c", {{"alice", {Key(1), Key(2)}}}));
  ASSERT_TRUE(lagging);
  EXPECT_EQ(lagging->accounts[0].outcome, AccountOutcome::kRefused);
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(1)}, StateVersion(kEpochB, 3)));
  // The database is rebuilt once more (epoch C): its state replaces epoch B's block.
  ASSERT_TRUE(again.Offer(EpochState("cccccccccccccccc", 1, "d", {{"alice", {Key(5)}}})));
  EXPECT_EQ(Alice(), RenderManagedBlock({Key(5)}, StateVersion("cccccccccccccccc", 1)))
      << "a state from the controller replaces another epoch's block";
}

// The two-slot cache: the newest complete slot wins; a torn or failed write never costs the
// previous state.
class CacheTest : public ::testing::Test {
 protected:
  std::string Prefix() { return sandbox_.Path("agent-cache"); }
  std::string Slot(int n) { return Read(sandbox_.Path("agent-cache." + std::to_string(n))); }
  Sandbox sandbox_;
};

TEST_F(CacheTest, SavesAlternateSlotsAndLoadTakesTheNewest) {
  DesiredStateCache cache(Prefix());
  auto empty = cache.Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  for (uint64_t g = 1; g <= 5; ++g)
    ASSERT_TRUE(cache.Save(State(g, "d", {{"alice", {Key(g)}}})).ok());
  struct stat st;
  for (int slot = 0; slot < 2; ++slot) {
    ASSERT_EQ(stat(sandbox_.Path("agent-cache." + std::to_string(slot)).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }
  auto loaded = DesiredStateCache(Prefix()).Load();
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->generation(), 5u);
  // A second writer (a restarted agent) continues the sequence instead of restarting it.
  DesiredStateCache restarted(Prefix());
  ASSERT_TRUE(restarted.Save(State(6, "d", {})).ok());
  EXPECT_EQ((*DesiredStateCache(Prefix()).Load())->generation(), 6u);
}

TEST_F(CacheTest, ATornSlotFallsBackToThePreviousState) {
  DesiredStateCache cache(Prefix());
  ASSERT_TRUE(cache.Save(State(1, "a", {{"alice", {Key(1)}}})).ok());  // slot 1
  ASSERT_TRUE(cache.Save(State(2, "b", {{"alice", {Key(2)}}})).ok());  // slot 0
  const std::string whole = Slot(0);
  // Every prefix of the newest slot (a crash mid-write) and a flipped byte anywhere in it.
  for (size_t cut = 0; cut < whole.size(); cut += 7) {
    sandbox_.Write("agent-cache.0", whole.substr(0, cut), 0600, 0);
    auto loaded = DesiredStateCache(Prefix()).Load();
    ASSERT_TRUE(loaded.ok()) << cut;
    EXPECT_EQ((*loaded)->generation(), 1u) << "cut at " << cut;
  }
  for (size_t at = 0; at < whole.size(); at += 5) {
    std::string flipped = whole;
    flipped[at] ^= 0x01;
    sandbox_.Write("agent-cache.0", flipped, 0600, 0);
    EXPECT_EQ((*DesiredStateCache(Prefix()).Load())->generation(), 1u) << "flipped at " << at;
  }
  // Old bytes left past the end (a crash before the truncate) do not pass either.
  sandbox_.Write("agent-cache.0", whole + "leftover", 0600, 0);
  EXPECT_EQ((*DesiredStateCache(Prefix()).Load())->generation(), 1u);
  // The next save goes to the torn slot, never over the only good one.
  DesiredStateCache again(Prefix());
  ASSERT_TRUE(again.Save(State(3, "c", {})).ok());
  EXPECT_EQ((*DesiredStateCache(Prefix()).Load())->generation(), 3u);
  EXPECT_NE(Slot(1).find(Key(1).substr(12, 40)), std::string::npos) << "slot 1 untouched";
}

TEST_F(CacheTest, SlotsThatAreNotOursAreNeitherReadNorWritten) {
  sandbox_.Write("secret", "root's file", 0600, 0);
  ASSERT_EQ(symlink(sandbox_.Path("secret").c_str(), sandbox_.Path("agent-cache.1").c_str()), 0);
  DesiredStateCache cache(Prefix());
  EXPECT_EQ(cache.Load().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache.Save(State(1, "a", {})).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Read(sandbox_.Path("secret")), "root's file");
  ASSERT_EQ(unlink(sandbox_.Path("agent-cache.1").c_str()), 0);
  ASSERT_EQ(link(sandbox_.Path("secret").c_str(), sandbox_.Path("agent-cache.1").c_str()), 0);
  EXPECT_EQ(DesiredStateCache(Prefix()).Save(State(1, "a", {})).code(),
            absl::StatusCode::kFailedPrecondition)
      << "a hard link to another file";
  EXPECT_EQ(Read(sandbox_.Path("secret")), "root's file");
}

}  // namespace
}  // namespace keyfleet::agent::testing
