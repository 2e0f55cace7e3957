// Last use and live sessions, over FakeStore: agents' key uses are checked and recorded for the
// reporting host only, `key list --unused-for` and the compliance report's stale keys follow
// them, a revocation ends sessions as asked or as the policy says, and the view tells agents
// which revoked keys' sessions to end (with the newest revocations, and page by page).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/key_use_limits.h"
#include "common/sha256_fingerprint.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/tests/fake_store.h"
#include "controller/tests/handler_test_fixture.h"
#include "controller/view_follower.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kDay = absl::Hours(24);

class KeyUseTest : public HandlerTest {
 protected:
  KeyUseTest() {
    EXPECT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
    EXPECT_TRUE(agents_.Connect("web-1", {}).ok());
    EXPECT_TRUE(agents_.Connect("web-2", {}).ok());
  }

  static KeyUseRecord Use(const std::string& fingerprint, absl::Time at,
                          const std::string& account = "deploy",
                          const std::string& from = "192.0.2.7") {
    KeyUseRecord use;
    use.fingerprint = fingerprint;
    use.account = account;
    use.last_used = at;
    use.from_address = from;
    use.hostname = "not-the-reporter";  // whatever a use holds, the stream's host counts
    return use;
  }

  std::vector<std::string> Fingerprints(const std::vector<KeyRecord>& keys) {
    std::vector<std::string> out;
    for (const KeyRecord& k : keys) out.push_back(k.fingerprint);
    return out;
  }
};

TEST_F(KeyUseTest, UsesAreRecordedForTheReportingHostOnlyAndKeepTheNewest) {
  const std::string fp = AddKey("alice", 1, "synthetic");
  clock_.Advance(10 * kDay);
  auto outcome = agents_.RecordKeyUses(
      "web-1", {Use(fp, kHandlerTestStart + kDay, "deploy", "::ffff:192.0.2.9"),
                Use(fp, kHandlerTestStart + 3 * kDay)});
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->recorded, 2u);
  ASSERT_TRUE(reports_.Flush().ok());
  // An older use later changes nothing.
  ASSERT_TRUE(agents_.RecordKeyUses("web-1", {Use(fp, kHandlerTestStart + 2 * kDay)}).ok());
  ASSERT_TRUE(reports_.Flush().ok());

  absl::StatusOr<KeyUsage> usage = inventory_.Usage(fp);
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_EQ(usage->uses.size(), 1u);
  EXPECT_EQ(usage->uses[0].hostname, "web-1");
  EXPECT_EQ(usage->uses[0].account, "deploy");
  EXPECT_EQ(usage->uses[0].last_used, kHandlerTestStart + 3 * kDay);
  EXPECT_EQ(usage->uses[0].from_address, "192.0.2.7");
  auto last = inventory_.LastUses({fp});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->at(fp), kHandlerTestStart + 3 * kDay);
}

TEST_F(KeyUseTest, MalformedUsesAreRefusedOneByOneAndTheRestRecorded) {
  const std::string fp = AddKey("alice", 1, "synthetic");
  const absl::Time now = clock_.Now();
  std::vector<KeyUseRecord> uses = {
      Use("MD5:aa:bb", now),                       // not a SHA256 fingerprint
      Use(fp, now, "../etc"),                      // not an account name
      Use(fp, now, "deploy", "host.example.com"),  // not an IP address
      Use(fp, now - kMaxKeyUseAge - kDay),         // absurdly old
      Use(fp, absl::InfinitePast()),               // no time
      Use(AddKey("alice", 2, "synthetic"), now + absl::Hours(5), "root",
          "2001:db8::1"),  // future: taken as now
  };
  // A key the inventory does not hold is not recorded, and is no error.
  uses.push_back(Use(Sha256FingerprintText(std::string(32, '\x01')), now));
  auto outcome = agents_.RecordKeyUses("web-2", uses);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->refused, 5u);
  EXPECT_THAT(outcome->first_refusal, HasSubstr("use 1: fingerprint"));
  EXPECT_EQ(outcome->unknown_keys, 1u);
  EXPECT_EQ(outcome->recorded, 1u);
  ASSERT_TRUE(reports_.Flush().ok());
  absl::StatusOr<KeyUsage> usage = inventory_.Usage(uses[5].fingerprint);
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->uses.size(), 1u);
  EXPECT_EQ(usage->uses[0].hostname, "web-2");
  EXPECT_EQ(usage->uses[0].account, "root");
  EXPECT_EQ(usage->uses[0].last_used, now);
  EXPECT_THAT(inventory_.Usage(fp)->uses, IsEmpty());

  EXPECT_EQ(agents_.RecordKeyUses("never-connected", {Use(fp, now)}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KeyUseTest, UnusedForListsKeysOldEnoughAndNotUsedWithinTheWindow) {
  const std::string used_lately = AddKey("alice", 1, "synthetic");
  const std::string used_long_ago = AddKey("alice", 2, "synthetic");
  const std::string never_used = AddKey("alice", 3, "synthetic");
  clock_.Advance(100 * kDay);
  const std::string young =
      AddKey("alice", 4, "synthetic");  // never used, but younger than the window
  ASSERT_TRUE(agents_
                  .RecordKeyUses("web-1", {Use(used_lately, clock_.Now() - 10 * kDay),
                                           Use(used_long_ago, clock_.Now() - 95 * kDay)})
                  .ok());
  ASSERT_TRUE(reports_.Flush().ok());

  KeyFilter filter;
  filter.unused_for = 90 * kDay;
  auto keys = inventory_.ListKeys(filter);
  ASSERT_TRUE(keys.ok()) << keys.status();
  std::vector<std::string> expected = {used_long_ago, never_used};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Fingerprints(*keys), expected);
  (void)young;

  filter.unused_for = -kDay;
  EXPECT_EQ(inventory_.ListKeys(filter).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyUseTest, ComplianceListsActiveStaleKeysNeverUsedFirst) {
  const std::string used_lately = AddKey("alice", 1, "synthetic");
  const std::string used_long_ago = AddKey("alice", 2, "synthetic");
  const std::string never_used = AddKey("alice", 3, "synthetic");
  const std::string revoked = AddKey("alice", 4, "synthetic");
  clock_.Advance(100 * kDay);
  ASSERT_TRUE(inventory_.RevokeKey("admin", revoked, "lost").ok());
  ASSERT_TRUE(agents_
                  .RecordKeyUses("web-1", {Use(used_lately, clock_.Now() - kDay),
                                           Use(used_long_ago, clock_.Now() - 95 * kDay)})
                  .ok());
  ASSERT_TRUE(reports_.Flush().ok());

  auto report = report_handlers_.Compliance();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->stale_after, kDefaultStaleAfter);
  EXPECT_EQ(Fingerprints(report->stale), (std::vector<std::string>{never_used, used_long_ago}));
  EXPECT_EQ(report->last_used.at(used_long_ago), clock_.Now() - 95 * kDay);
  EXPECT_FALSE(report->last_used.count(never_used));

  // A wider window: nothing used within 96 days is stale only if never used.
  report = report_handlers_.Compliance(96 * kDay);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(Fingerprints(report->stale), (std::vector<std::string>{never_used}));
  EXPECT_EQ(report_handlers_.Compliance(absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyUseTest, RevocationEndsSessionsAsAskedOrAsThePolicySays) {
  const std::string asked = AddKey("alice", 1, "synthetic"),
                    refused = AddKey("alice", 2, "synthetic"),
                    by_default = AddKey("alice", 3, "synthetic");
  ASSERT_TRUE(inventory_.RevokeKey("admin", asked, "stolen", true).ok());
  EXPECT_TRUE(inventory_.GetKey(asked)->revocation_ends_sessions);

  PolicyRecord policy = inventory_.GetPolicy();
  policy.end_sessions_on_revoke = true;
  ASSERT_TRUE(inventory_.SetPolicy("admin", policy).ok());
  ASSERT_TRUE(inventory_.RevokeKey("admin", refused, "rotated out", false).ok());
  ASSERT_TRUE(inventory_.RevokeKey("admin", by_default, "stolen").ok());
  EXPECT_FALSE(inventory_.GetKey(refused)->revocation_ends_sessions);
  EXPECT_TRUE(inventory_.GetKey(by_default)->revocation_ends_sessions);

  // The view tells agents: with the newest revocations, in their order, and page by page.
  const std::string d_asked = *Sha256FingerprintDigest(asked);
  const std::string d_default = *Sha256FingerprintDigest(by_default);
  RevocationListPtr list = view_.Revocations();
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->recent_sha256.size(), 3u);
  EXPECT_THAT(list->recent_kill_sha256, ElementsAre(d_asked, d_default));
  uint64_t total = 0, next = 0;
  std::string epoch;
  std::vector<std::string> kill;
  std::vector<std::string> page = agents_.Revocations(0, &total, &epoch, &next, &kill);
  EXPECT_EQ(page.size(), 3u);
  std::vector<std::string> expected = {d_asked, d_default};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(kill, expected);
  // A page of one: only its own digest, when it has the flag.
  std::vector<std::string> one_kill;
  for (uint64_t offset = 0; offset < 3; ++offset) {
    std::vector<std::string> one = view_.RevokedPage(offset, 1, &total, &epoch, &one_kill);
    ASSERT_EQ(one.size(), 1u);
    const bool flagged = one[0] == d_asked || one[0] == d_default;
    EXPECT_EQ(one_kill, flagged ? one : std::vector<std::string>{});
  }

  // A replica loading the database knows the flags (none of them recent any more).
  FleetView reloaded{PolicyRecord{}};
  ASSERT_TRUE(reloaded.Reset(*store_.LoadSnapshot(), clock_.Now()).ok());
  EXPECT_THAT(reloaded.Revocations()->recent_kill_sha256, IsEmpty());
  reloaded.RevokedPage(0, 10, &total, &epoch, &kill);
  EXPECT_EQ(kill, expected);
}

TEST_F(KeyUseTest, SessionsEndedAreSummedPerHostAndAuditedOncePerReport) {
  const std::string killed = AddKey("alice", 1, "synthetic"),
                    plain = AddKey("alice", 2, "synthetic");
  ASSERT_TRUE(inventory_.RevokeKey("admin", killed, "stolen", true).ok());
  ASSERT_TRUE(inventory_.RevokeKey("admin", plain, "lost", false).ok());
  auto report = [&](const std::string& host, uint64_t generation,
                    std::vector<SessionsEndedCount> ended) {
    HostReport r;
    r.hostname = host;
    r.applied_generation = generation;
    r.sessions_ended = std::move(ended);
    ASSERT_TRUE(agents_.Report(std::move(r)).ok());
  };
  // Two reports of one host between flushes: the newer wins, the counts add up; a key not
  // revoked with kill_sessions is left out.
  report("web-1", 5, {{killed, 2}, {plain, 1}});
  report("web-1", 4, {{killed, 1}});
  report("web-2", 5, {{killed, 1}});
  ASSERT_TRUE(reports_.Flush().ok());
  report("web-1", 6, {{killed, 4}});
  ASSERT_TRUE(reports_.Flush().ok());

  absl::StatusOr<KeyUsage> usage = inventory_.Usage(killed);
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->sessions_ended.size(), 2u);
  EXPECT_EQ(usage->sessions_ended[0].hostname, "web-1");
  EXPECT_EQ(usage->sessions_ended[0].count, 7u);
  EXPECT_EQ(usage->sessions_ended[1].hostname, "web-2");
  EXPECT_EQ(usage->sessions_ended[1].count, 1u);
  EXPECT_THAT(inventory_.Usage(plain)->sessions_ended, IsEmpty());

  auto audit = store_.ListAudit(0, absl::InfinitePast(), 1000);
  ASSERT_TRUE(audit.ok());
  int ended_events = 0;
  for (const AuditEvent& e : *audit) {
    if (e.action != "host.sessions.end") continue;
    ++ended_events;
    EXPECT_EQ(e.actor, "host:" + e.target);
    EXPECT_THAT(e.after_json, HasSubstr(killed));
    EXPECT_THAT(e.after_json, ::testing::Not(HasSubstr(plain)));
  }
  EXPECT_EQ(ended_events, 3);  // web-1 (merged), web-2, web-1 again
}

}  // namespace
}  // namespace keyfleet::controller
