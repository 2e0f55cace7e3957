// The reconciler's rules: never older generations, dropped accounts lose their managed keys,
// the cache survives a restart and is enforced before any network.
#include "node-agent/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

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

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerSettings Settings() {
    ReconcilerSettings s;
    s.apply.root = sandbox_.root();
    s.cache_path = sandbox_.Path("cache.pb");
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

TEST_F(ReconcilerTest, TheCacheIsEnforcedAfterARestartWithoutTheController) {
  {
    Reconciler r(Settings());
    ASSERT_TRUE(r.Start().ok());
    ASSERT_TRUE(r.Offer(State(3, "c", {{"alice", {Key(7)}}})));
  }
  struct stat st;
  ASSERT_EQ(stat(sandbox_.Path("cache.pb").c_str(), &st), 0);
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

TEST_F(ReconcilerTest, AnUntrustworthyCacheIsRefused) {
  sandbox_.Write("cache.pb", "garbage", 0644, 0);
  EXPECT_EQ(Reconciler(Settings()).Start().status().code(), absl::StatusCode::kFailedPrecondition);
  sandbox_.Write("cache.pb", "\xff\xff\xff", 0600, 0);
  EXPECT_EQ(Reconciler(Settings()).Start().status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace keyfleet::agent::testing
