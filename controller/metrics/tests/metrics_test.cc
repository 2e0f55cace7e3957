// The controller's metrics without a server: metrics_listen's parser (a table of good and bad
// addresses), which admin RPCs count as mutations, the exposition promtool accepts, and the host
// tracker's states and revoke-to-converged clocks against a real fleet view.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/grpc_code_name.h"
#include "common/fingerprint.h"
#include "common/ssh_public_key.h"
#include "controller/fleet_view.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/metrics/host_tracker.h"
#include "controller/metrics/http_server.h"
#include "controller/metrics/mutation_interceptor.h"
#include "controller/record_json.h"
#include "controller/service/admin_auth.h"
#include "tests/support/promtool_check.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller::metrics {
namespace {

using ::testing::HasSubstr;

TEST(ParseMetricsListen, AcceptsAddressesAndOff) {
  struct Good {
    const char* text;
    std::optional<std::string> want;
  };
  const Good kGood[] = {
      {"", std::nullopt},
      {"off", std::nullopt},
      {"127.0.0.1:9464", "127.0.0.1:9464"},
      {"0.0.0.0:9464", "0.0.0.0:9464"},
      {"127.0.0.1:0", "127.0.0.1:0"},
      {"[::1]:9464", "[::1]:9464"},
      {"[::]:65535", "[::]:65535"},
      {"localhost:9464", "localhost:9464"},
      {"metrics.example.com:9464", "metrics.example.com:9464"},
  };
  for (const Good& g : kGood) {
    absl::StatusOr<std::optional<std::string>> got = ParseMetricsListen(g.text);
    ASSERT_TRUE(got.ok()) << g.text << ": " << got.status();
    EXPECT_EQ(*got, g.want) << g.text;
  }
}

TEST(ParseMetricsListen, RefusesWithTheReason) {
  struct Bad {
    const char* text;
    const char* why;
  };
  const Bad kBad[] = {
      {"9464", "no port"},
      {"on", "no port"},
      {"127.0.0.1", "no port"},
      {"127.0.0.1:", "the port is not a number"},
      {"127.0.0.1:65536", "the port is not a number"},
      {"127.0.0.1:94x4", "the port is not a number"},
      {"127.0.0.1:+9464", "the port is not a number"},
      {":9464", "neither an IPv4 address nor a host name"},
      {"http://0.0.0.0:9464", "a URL, not an address"},
      {"0.0.0.0/24:9464", "neither an IPv4 address nor a host name"},
      {"host name:9464", "neither an IPv4 address nor a host name"},
      {"::1:9464", "an IPv6 address goes in brackets"},
      {"[::1:9464", "no ] after ["},
      {"[::1]9464", "no :PORT after ]"},
      {"[127.0.0.1]:9464", "no IPv6 address in the brackets"},
      {"[]:9464", "no IPv6 address in the brackets"},
  };
  for (const Bad& b : kBad) {
    absl::StatusOr<std::optional<std::string>> got = ParseMetricsListen(b.text);
    ASSERT_FALSE(got.ok()) << b.text;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << b.text;
    EXPECT_THAT(got.status().message(), HasSubstr(b.why)) << b.text;
    EXPECT_THAT(got.status().message(), HasSubstr("metrics_listen")) << b.text;
    EXPECT_THAT(got.status().message(), HasSubstr("\"off\"")) << b.text;
  }
}

// Stopped at once after Start (a start-up failure just after it): the listening thread may not
// be running yet, and httplib's stop() alone would leave it accepting forever.
TEST(MetricsHttpServer, StopsEvenRightAfterStarting) {
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(
        "127.0.0.1:0", HttpHandlers{[] { return std::string(); }, [] { return Readiness{}; }});
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Stop();
  }
}

TEST(AdminMutationName, CountsWhatTheAuditorMayNotCall) {
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/AddKeys"), "AddKeys");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/RevokeKey"), "RevokeKey");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/SetPolicy"), "SetPolicy");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/ListKeys"), "");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/WhoAmI"), "");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AdminService/NoSuchRpc"), "");
  EXPECT_EQ(AdminMutationName("/keyfleet.v1.AgentService/Watch"), "");
  EXPECT_EQ(AdminMutationName("/grpc.health.v1.Health/Check"), "");
  // Every rule is one or the other, and the mutations are those the auditor is refused.
  size_t mutations = 0;
  for (const AdminRpcRule& rule : kAdminRpcRules) {
    const bool mutation = !AdminMutationName(absl::StrCat(kAdminServicePrefix, rule.rpc)).empty();
    EXPECT_EQ(mutation, (rule.roles & kAuditorRole) == 0) << rule.rpc;
    mutations += mutation;
  }
  EXPECT_GT(mutations, 10u);
}

TEST(GrpcCodeName, NamesEveryCode) {
  using keyfleet::GrpcCodeName;
  EXPECT_STREQ(GrpcCodeName(0), "OK");
  EXPECT_STREQ(GrpcCodeName(3), "INVALID_ARGUMENT");
  EXPECT_STREQ(GrpcCodeName(7), "PERMISSION_DENIED");
  EXPECT_STREQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_STREQ(GrpcCodeName(17), "UNKNOWN");
  EXPECT_STREQ(GrpcCodeName(-1), "UNKNOWN");
}

TEST(ControllerMetrics, ExpositionPassesPromtoolAndCounts) {
  ControllerMetrics metrics;
  ScrapeValues values;
  values.connected_agents = 2;
  values.hosts = {1, 1, 0, 3};
  values.pool_size = 8;
  values.pool_in_use = 1;
  values.database_retries = 4;
  values.database_reachable = true;
  values.ready = true;
  const std::string before = metrics.Render(values);
  EXPECT_EQ(testing::PromtoolProblems(before), "") << before;

  metrics.CountMutation("AddKeys", "OK");
  metrics.CountMutation("AddKeys", "OK");
  metrics.CountMutation("RevokeKey", "PERMISSION_DENIED");
  metrics.CountDesiredStatePush();
  metrics.ObserveRevokeToConverged(absl::Milliseconds(300));
  metrics.ObserveRevokeToConverged(-absl::Seconds(1));  // clocks that disagree: counted as 0
  metrics.CountDelivery("webhook:siem", "delivered");
  const std::string text = metrics.Render(values);
  EXPECT_EQ(testing::PromtoolProblems(text), "") << text;
  for (const char* line : {
           "keyfleet_admin_mutations_total{code=\"OK\",rpc=\"AddKeys\"} 2",
           "keyfleet_admin_mutations_total{code=\"PERMISSION_DENIED\",rpc=\"RevokeKey\"} 1",
           "keyfleet_desired_state_pushes_total 1",
           "keyfleet_revoke_to_converged_seconds_count 2",
           "keyfleet_revoke_to_converged_seconds_bucket{le=\"0.05\"} 1",
           "keyfleet_revoke_to_converged_seconds_bucket{le=\"0.5\"} 2",
           "keyfleet_notification_deliveries_total{result=\"delivered\",sink=\"webhook:siem\"} 1",
           "keyfleet_connected_agents 2",
           "keyfleet_hosts{state=\"converged\"} 1",
           "keyfleet_hosts{state=\"offline\"} 3",
           "keyfleet_database_pool_connections 8",
           "keyfleet_database_pool_connections_in_use 1",
           "keyfleet_database_retries_total 4",
           "keyfleet_database_outage 0",
           "keyfleet_ready 1",
       }) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + line + "\n")) << text;
  }
}

// A fleet view with hosts web-1 and web-2, alice's ed25519 key granted to both as "alice".
class HostTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::KeyVector& v = testing::Vector("ed25519");
    absl::StatusOr<PublicKey> parsed = ParsePublicKey(v.line);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    key_.fingerprint = Fingerprint(*parsed);
    key_.principal = "alice";
    key_.type = "ssh-ed25519";
    key_.bits = 256;
    key_.public_key = v.line.substr(0, v.line.rfind(' '));
    key_.created_at = clock_.Now() - absl::Hours(1);
    key_.expires_at = clock_.Now() + absl::Hours(24 * 300);
    Snapshot snapshot;
    snapshot.sequence = 10;
    snapshot.epoch = "00000000000000aa";
    PrincipalRecord alice;
    alice.name = "alice";
    snapshot.principals.push_back(alice);
    snapshot.keys.push_back(key_);
    GrantRecord grant;
    grant.id = 1;
    grant.principal = "alice";
    grant.account = "alice";
    snapshot.grants.push_back(grant);
    for (const char* name : {"web-1", "web-2"}) {
      HostRecord host;
      host.hostname = name;
      snapshot.hosts.push_back(host);
    }
    ASSERT_TRUE(view_.Reset(snapshot, clock_.Now()).ok());
  }

  v1::ReportRequest ReportOf(const std::string& host, uint64_t generation) {
    v1::ReportRequest report;
    report.set_applied_epoch("00000000000000aa");
    report.set_applied_generation(generation);
    report.set_applied_digest(view_.DesiredDigest(host).value_or(""));
    return report;
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  FleetView view_{PolicyRecord()};
  ControllerMetrics metrics_;
  HostStateTracker tracker_{view_, metrics_, clock_};
  KeyRecord key_;
};

TEST_F(HostTrackerTest, CountsHostsByState) {
  const std::vector<std::string> both = {"web-1", "web-2"};
  HostStateCounts counts = tracker_.Count(both);
  EXPECT_EQ(counts.pending, 2u);  // connected, nothing reported yet
  EXPECT_EQ(counts.offline, 0u);

  tracker_.Reported("web-1", ReportOf("web-1", 10));
  v1::ReportRequest failed = ReportOf("web-2", 10);
  failed.add_failed_accounts()->set_account("alice");
  tracker_.Reported("web-2", failed);
  counts = tracker_.Count(both);
  EXPECT_EQ(counts.converged, 1u);
  EXPECT_EQ(counts.failed, 1u);
  EXPECT_EQ(counts.pending, 0u);

  // An old digest, or another epoch, is not converged.
  v1::ReportRequest old = ReportOf("web-2", 9);
  old.set_applied_digest("an older digest");
  tracker_.Reported("web-2", old);
  v1::ReportRequest other_epoch = ReportOf("web-1", 10);
  other_epoch.set_applied_epoch("00000000000000bb");
  tracker_.Reported("web-1", other_epoch);
  counts = tracker_.Count(both);
  EXPECT_EQ(counts.pending, 2u);
  EXPECT_EQ(counts.converged + counts.failed, 0u);

  // web-2's stream ended: offline, and forgotten (its next stream starts from nothing).
  counts = tracker_.Count({"web-1"});
  EXPECT_EQ(counts.pending, 1u);
  EXPECT_EQ(counts.offline, 1u);
  tracker_.Reported("web-1", ReportOf("web-1", 10));
  counts = tracker_.Count(both);
  EXPECT_EQ(counts.converged, 1u);
  EXPECT_EQ(counts.pending, 1u);
}

TEST_F(HostTrackerTest, ARevocationsClockStopsWhenAHostAppliesIt) {
  KeyRecord revoked = key_;
  revoked.state = KeyState::kRevoked;
  revoked.revoked_at = clock_.Now();
  revoked.revocation_reason = "test";
  const Change change{11, EntityKind::kKey, key_.fingerprint, KeyToJson(revoked)};
  ASSERT_EQ(RevokedAt(change), clock_.Now());
  std::vector<std::string> changed;
  ASSERT_TRUE(view_.ApplyBatch({change}, clock_.Now(), &changed).ok());
  std::optional<RolloutTargets> targets = view_.Rollout(11);
  ASSERT_TRUE(targets.has_value());
  ASSERT_EQ(targets->hosts.size(), 2u);

  // Only web-1 is connected here.
  int asked = 0;
  tracker_.ChangesApplied({change}, [&] {
    ++asked;
    return std::vector<std::string>{"web-1"};
  });
  EXPECT_EQ(asked, 1);
  clock_.Advance(absl::Milliseconds(200));
  tracker_.Reported("web-1", ReportOf("web-1", 10));  // not yet the revocation's generation
  clock_.Advance(absl::Milliseconds(100));
  tracker_.Reported("web-1", ReportOf("web-1", 11));
  tracker_.Reported("web-1", ReportOf("web-1", 11));  // once per host
  tracker_.Reported("web-2", ReportOf("web-2", 11));  // not connected here at the revocation
  const std::string text = metrics_.Render(ScrapeValues());
  EXPECT_THAT(text, HasSubstr("\nkeyfleet_revoke_to_converged_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("\nkeyfleet_revoke_to_converged_seconds_sum 0.3"));
  EXPECT_THAT(text, HasSubstr("\nkeyfleet_revoke_to_converged_seconds_bucket{le=\"0.25\"} 0\n"));

  // Other changes never ask which hosts are connected.
  KeyRecord relabelled = key_;
  relabelled.label = "laptop";
  tracker_.ChangesApplied({{12, EntityKind::kKey, key_.fingerprint, KeyToJson(relabelled)}}, [&] {
    ++asked;
    return std::vector<std::string>();
  });
  EXPECT_EQ(asked, 1);
}

TEST_F(HostTrackerTest, PendingRevocationsAreBoundedPerHost) {
  // Clocks for more revocations than kept: the oldest go, and a report past them all stops at
  // most kMaxPendingRevocations.
  std::vector<std::string> changed;
  uint64_t sequence = 10;
  for (size_t i = 0; i < 2 * (kMaxPendingRevocations + 5); ++i) {
    KeyRecord k = key_;
    k.state = (i % 2 == 0) ? KeyState::kRevoked : KeyState::kActive;
    k.revoked_at = clock_.Now();
    if (k.state == KeyState::kActive) k.revoked_at.reset();
    const Change change{++sequence, EntityKind::kKey, key_.fingerprint, KeyToJson(k)};
    ASSERT_TRUE(view_.ApplyBatch({change}, clock_.Now(), &changed).ok());
    tracker_.ChangesApplied({change}, [] { return std::vector<std::string>{"web-1"}; });
  }
  tracker_.Reported("web-1", ReportOf("web-1", sequence));
  const std::string text = metrics_.Render(ScrapeValues());
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nkeyfleet_revoke_to_converged_seconds_count ",
                                           kMaxPendingRevocations, "\n")));
}

}  // namespace
}  // namespace keyfleet::controller::metrics
