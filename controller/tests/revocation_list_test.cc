// The fleet's revocation list as the view keeps it for agents' KRLs (FleetView::Revocations,
// RevokedPage): every revocation reaches every host (its digest changes, it is a rollout
// target), the count survives a reload with the same digest (agents do not apply again after a
// controller restart), recent revocations are capped, and pages cover the sorted list.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/revocation_limits.h"
#include "common/sha256_fingerprint.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/host_selector.h"
#include "controller/tests/fake_store.h"
#include "controller/tests/handler_test_fixture.h"
#include "controller/view_follower.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

class RevocationListTest : public HandlerTest {
 protected:
  RevocationListTest() {
    EXPECT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  }

  HostDesiredState State(const std::string& host) {
    absl::StatusOr<HostDesiredState> state = agents_.DesiredState(host);
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : HostDesiredState{};
  }
};

TEST_F(RevocationListTest, ARevocationReachesEveryHostEvenWhereTheKeyWasNotGranted) {
  ASSERT_TRUE(agents_.Connect("web-1", {{"env", "prod"}}).ok());
  ASSERT_TRUE(agents_.Connect("db-1", {{"env", "staging"}}).ok());
  const std::string fp = AddKey("alice", 1, "synthetic");
  GrantRecord grant;
  grant.principal = "alice";
  grant.hosts = *ParseHostSelector("env=prod");
  grant.account = "deploy";
  ASSERT_TRUE(inventory_.AddGrant("admin", grant).ok());
  const HostDesiredState web_before = State("web-1"), db_before = State("db-1");
  ASSERT_NE(web_before.revocations, nullptr);
  EXPECT_EQ(web_before.revocations->total, 0u);

  absl::StatusOr<uint64_t> change = inventory_.RevokeKey("admin", fp, "stolen");
  ASSERT_TRUE(change.ok()) << change.status();
  const HostDesiredState db_after = State("db-1");
  EXPECT_NE(db_after.digest, db_before.digest) << "db-1's KRL must get it too";
  EXPECT_GT(db_after.generation, db_before.generation);
  ASSERT_NE(db_after.revocations, nullptr);
  EXPECT_EQ(db_after.revocations->total, 1u);
  EXPECT_THAT(db_after.revocations->recent_sha256, ElementsAre(*Sha256FingerprintDigest(fp)));
  EXPECT_NE(State("web-1").digest, web_before.digest);

  // Converged means every host's KRL holds it: both are targets of the revoke.
  absl::StatusOr<RolloutStatus> rollout = report_handlers_.Rollout(*change);
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_EQ(rollout->targeted, 2u);

  uint64_t total = 0;
  std::string epoch;
  EXPECT_THAT(view_.RevokedPage(0, 10, &total, &epoch), ElementsAre(*Sha256FingerprintDigest(fp)));
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(epoch, db_after.epoch);
}

TEST_F(RevocationListTest, AReloadKeepsTheCountAndTheDigest) {
  ASSERT_TRUE(agents_.Connect("web-1", {}).ok());
  const std::string fp = AddKey("alice", 1, "synthetic");
  ASSERT_TRUE(inventory_.RevokeKey("admin", fp, "stolen").ok());
  const HostDesiredState before = State("web-1");
  ASSERT_TRUE(follower_.Load().ok());  // as a restarted replica does
  const HostDesiredState after = State("web-1");
  EXPECT_EQ(after.digest, before.digest) << "agents must not apply again after a restart";
  ASSERT_NE(after.revocations, nullptr);
  EXPECT_EQ(after.revocations->total, 1u);
  EXPECT_THAT(after.revocations->recent_sha256, SizeIs(0)) << "what a replica loads is not recent";
}

TEST_F(RevocationListTest, RecentIsCappedAndPagesCoverTheSortedList) {
  ASSERT_TRUE(agents_.Connect("web-1", {}).ok());
  const size_t n = kMaxRecentRevocations + 6;
  std::vector<std::string> digests;
  for (size_t i = 0; i < n; ++i) {
    const std::string fp = AddKey("alice", 100 + i, "synthetic");
    ASSERT_TRUE(inventory_.RevokeKey("admin", fp, "rotation").ok());
    digests.push_back(*Sha256FingerprintDigest(fp));
  }
  const HostDesiredState state = State("web-1");
  EXPECT_EQ(state.revocations->total, n);
  // The newest, in the order they were revoked.
  EXPECT_EQ(state.revocations->recent_sha256,
            std::vector<std::string>(digests.end() - kMaxRecentRevocations, digests.end()));

  std::sort(digests.begin(), digests.end());
  std::vector<std::string> paged;
  uint64_t total = 0;
  std::string epoch;
  for (uint64_t offset = 0; offset < n; offset += 7) {
    std::vector<std::string> page = view_.RevokedPage(offset, 7, &total, &epoch);
    EXPECT_LE(page.size(), 7u);
    paged.insert(paged.end(), page.begin(), page.end());
  }
  EXPECT_EQ(paged, digests);
  EXPECT_THAT(view_.RevokedPage(n, 7, &total, &epoch), SizeIs(0));
  EXPECT_EQ(total, n);

  uint64_t next = 1, agent_total = 0;
  std::vector<std::string> whole = agents_.Revocations(0, &agent_total, &epoch, &next);
  EXPECT_EQ(whole, digests);
  EXPECT_EQ(next, 0u) << "one page holds them all";
}

}  // namespace
}  // namespace keyfleet::controller
