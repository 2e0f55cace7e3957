// Handler tests with a FakeStore and a fixed clock: inventory rules, expiry, the warning window,
// policy refusals, desired state, access review and rollout status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/delivery_limits.h"
#include "controller/desired_state.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/host_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/host_selector.h"
#include "controller/inventory_validation.h"
#include "controller/tests/fake_store.h"
#include "controller/tests/handler_test_fixture.h"
#include "controller/view_follower.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const absl::Duration kDay = absl::Hours(24);

class HandlersTest : public HandlerTest {
 protected:
  std::string Ed(uint64_t n) { return testing::SyntheticEd25519Line(n, "user@laptop"); }

  GrantRecord Grant(const std::string& who, const std::string& selector,
                    const std::string& account) {
    GrantRecord g;
    g.principal = who;
    g.hosts = *ParseHostSelector(selector);
    g.account = account;
    return g;
  }

  GrantRecord FingerprintGrant(const std::string& fingerprint, const std::string& selector,
                               const std::string& account) {
    GrantRecord g;
    g.key_fingerprint = fingerprint;
    g.hosts = *ParseHostSelector(selector);
    g.account = account;
    return g;
  }

  void Connect(const std::string& host, Labels labels) {
    ASSERT_TRUE(agents_.Connect(host, labels).ok());
  }

  std::vector<std::string> Lines(const std::string& host, const std::string& account) {
    auto state = agents_.DesiredState(host);
    EXPECT_TRUE(state.ok()) << state.status();
    for (const auto& a : state->accounts) {
      if (a.account != account) continue;
      std::vector<std::string> lines;
      for (const auto& line : a.lines) lines.push_back(line->text);
      return lines;
    }
    return {};
  }
};

TEST_F(HandlersTest, NewKeysExpireAfterThePolicyMaxAge) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "a@x.io").ok());
  auto r = inventory_.AddKeys("admin", "alice", {Ed(1)}, "laptop");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->keys[0].created_at, kHandlerTestStart);
  EXPECT_EQ(r->keys[0].expires_at, kHandlerTestStart + 365 * kDay);
  EXPECT_EQ(r->keys[0].comment, "user@laptop");

  PolicyRecord shorter;
  shorter.max_key_age = 90 * kDay;
  ASSERT_TRUE(inventory_.SetPolicy("admin", shorter).ok());
  auto r2 = inventory_.AddKeys("admin", "alice", {Ed(2)}, "");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->keys[0].expires_at, kHandlerTestStart + 90 * kDay);
}

TEST_F(HandlersTest, PolicyRefusalsNameTheRule) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  struct Case {
    std::string vector;
    absl::StatusCode code;
    std::string rule;
  };
  const Case cases[] = {
      {"dsa", absl::StatusCode::kFailedPrecondition, "rule: no-dsa"},
      {"rsa1024", absl::StatusCode::kFailedPrecondition, "rule: rsa-floor"},
      {"u_ed-cert", absl::StatusCode::kInvalidArgument, "certificate, not a key"},
  };
  for (const Case& c : cases) {
    auto r = inventory_.AddKeys("admin", "alice", {Ed(1), testing::Vector(c.vector).line}, "");
    EXPECT_EQ(r.status().code(), c.code) << c.vector;
    EXPECT_THAT(r.status().message(), HasSubstr("key 2 of 2")) << c.vector;
    EXPECT_THAT(r.status().message(), HasSubstr(c.rule)) << c.vector;
  }
  PolicyRecord only_ed;
  only_ed.key_policy.allowed_types = {KeyType::kEd25519};
  ASSERT_TRUE(inventory_.SetPolicy("admin", only_ed).ok());
  auto ec = inventory_.AddKeys("admin", "alice", {testing::Vector("ecdsa256").line}, "");
  EXPECT_THAT(ec.status().message(), HasSubstr("rule: allowed-types"));
  EXPECT_THAT(inventory_.ListKeys({}).value(), IsEmpty()) << "nothing half-added";
}

TEST_F(HandlersTest, KeyCommentsHaveALimit) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  const std::string at_limit =
      testing::SyntheticEd25519Line(1, std::string(kMaxKeyCommentBytes, 'c'));
  EXPECT_TRUE(inventory_.AddKeys("admin", "alice", {at_limit}, "").ok());
  const std::string past =
      testing::SyntheticEd25519Line(2, std::string(kMaxKeyCommentBytes + 1, 'c'));
  auto refused = inventory_.AddKeys("admin", "alice", {past}, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("comment is 1025 bytes; at most 1024"));
}

TEST_F(HandlersTest, AKeyCannotServeTwoOwners) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "bob", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 5);
  auto r = inventory_.AddKeys("admin", "bob", {Ed(5)}, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(r.status().message(), HasSubstr("\"alice\""));
  EXPECT_THAT(r.status().message(), HasSubstr("cannot serve two owners"));
  auto dup = inventory_.AddKeys("admin", "bob", {Ed(6), Ed(6)}, "");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  // Adding a key again to its own principal is no conflict between owners: say so.
  auto again = inventory_.AddKeys("admin", "alice", {Ed(5)}, "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("already one of alice's keys"));
  EXPECT_THAT(again.status().message(), Not(HasSubstr("two owners")));
}

TEST_F(HandlersTest, RevokeRemovesEverywhereAndBlocksReAdding) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  std::string fp = AddKey("alice", 1);
  AddKey("alice", 2);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "env=prod", "deploy")).ok());
  Connect("web-1", {{"env", "prod"}});
  Connect("web-2", {{"env", "prod"}});
  Connect("db-1", {{"env", "staging"}});
  EXPECT_THAT(Lines("web-1", "deploy"), SizeIs(2));

  auto change = inventory_.RevokeKey("admin", fp, "laptop stolen");
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_THAT(Lines("web-1", "deploy"), SizeIs(1));
  EXPECT_THAT(Lines("web-2", "deploy"), SizeIs(1));
  EXPECT_EQ(inventory_.GetKey(fp)->state, KeyState::kRevoked);

  auto rollout = report_handlers_.Rollout(*change);
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  // Every host is a target, db-1 too: its KRL must refuse the key wherever it appears.
  EXPECT_EQ(rollout->targeted, 3u);
  // A scoped caller's view: only the hosts it sees count.
  auto scoped =
      report_handlers_.Rollout(*change, [](const std::string& h) { return h == "web-2"; });
  ASSERT_TRUE(scoped.ok());
  EXPECT_EQ(scoped->targeted, 1u);
  EXPECT_THAT(scoped->pending, ElementsAre("web-2"));
  EXPECT_EQ(rollout->converged, 0u);
  EXPECT_THAT(rollout->pending, ElementsAre("db-1", "web-1", "web-2"));
  auto state = agents_.DesiredState("web-1");
  EXPECT_EQ(state->epoch, "fa4e000000000001") << "the database's epoch, for the agent";
  // A report of the same number from another epoch (before a restore) is nothing applied.
  HostReport other_epoch = AppliedReport(*state, "web-1", kHandlerTestStart);
  other_epoch.applied_generation += 100;
  other_epoch.applied_epoch = "0ld0000000000000";
  ASSERT_TRUE(agents_.Report(other_epoch).ok());
  ASSERT_TRUE(reports_.Flush().ok());
  EXPECT_EQ(report_handlers_.Rollout(*change)->converged, 0u);
  ASSERT_TRUE(agents_.Report(AppliedReport(*state, "web-1", kHandlerTestStart)).ok());
  ASSERT_TRUE(reports_.Flush().ok());
  rollout = report_handlers_.Rollout(*change);
  EXPECT_EQ(rollout->converged, 1u);
  EXPECT_THAT(rollout->pending, ElementsAre("db-1", "web-2"));
  // A host not seen for longer than the connected window is offline, not pending: --wait does
  // not wait for it (it applies the change when it reconnects).
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(store_.TouchHosts({"web-1"}, clock_.Now()).ok());
  rollout = report_handlers_.Rollout(*change);
  EXPECT_THAT(rollout->pending, IsEmpty());
  EXPECT_THAT(rollout->offline, ElementsAre("db-1", "web-2"));

  // Its record stays (it is the evidence, listed with --state revoked); the blocklist refuses it
  // for ever.
  EXPECT_EQ(inventory_.RemoveKey("admin", fp).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = inventory_.AddKeys("admin", "alice", {Ed(1)}, "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("laptop stolen"));
  EXPECT_THAT(again.status().message(), HasSubstr("2026-11-18"));
}

TEST_F(HandlersTest, ARevokedKeyStaysListedAndCannotBeRemoved) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  const std::string fp = AddKey("alice", 9);
  ASSERT_TRUE(inventory_.RevokeKey("admin", fp, "stolen").ok());
  absl::Status removed = inventory_.RemoveKey("admin", fp).status();
  EXPECT_EQ(removed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(removed.message(), HasSubstr("--state revoked"));
  KeyFilter revoked;
  revoked.state = "revoked";
  auto listed = inventory_.ListKeys(revoked);
  ASSERT_TRUE(listed.ok());
  ASSERT_THAT(*listed, SizeIs(1));
  EXPECT_EQ((*listed)[0].fingerprint, fp);
}

TEST_F(HandlersTest, ExpiredKeysDropOutOnTimeWithoutAMutation) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  clock_.Advance(200 * kDay);
  AddKey("alice", 2);
  {
    auto g = inventory_.AddGrant("admin", Grant("alice", "*", "alice"));
    ASSERT_TRUE(g.ok()) << g.status();
  }
  Connect("h1", {});
  std::vector<std::string> lines = Lines("h1", "alice");
  ASSERT_THAT(lines, SizeIs(2));
  // Each line carries the key's expiry, so sshd enforces it even without the agent.
  EXPECT_THAT(lines[0] + lines[1], HasSubstr("expiry-time=\"202711181106Z\""));
  uint64_t generation = agents_.DesiredState("h1")->generation;
  std::string digest = agents_.DesiredState("h1")->digest;

  clock_.Advance(165 * kDay + absl::Seconds(1));  // key 1 is now past 365 days
  follower_.Tick();
  EXPECT_THAT(Lines("h1", "alice"), SizeIs(1));
  EXPECT_NE(agents_.DesiredState("h1")->digest, digest);
  EXPECT_EQ(agents_.DesiredState("h1")->generation, generation)
      << "no change was written: the generation stays, the digest moves";
  auto expired = inventory_.ListKeys({"", std::string("expired"), std::nullopt, std::nullopt});
  EXPECT_THAT(*expired, SizeIs(1));
}

TEST_F(HandlersTest, WarningWindowListsExpiringKeys) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  std::string old_key = AddKey("alice", 1);
  clock_.Advance(300 * kDay);
  AddKey("alice", 2);
  clock_.Advance(40 * kDay);  // key 1 expires in 25 days, key 2 in 325
  auto expiring = inventory_.ListKeys({"", std::nullopt, 30 * kDay, std::nullopt});
  ASSERT_TRUE(expiring.ok());
  ASSERT_THAT(*expiring, SizeIs(1));
  EXPECT_EQ((*expiring)[0].fingerprint, old_key);
  auto report = report_handlers_.Compliance();
  ASSERT_TRUE(report.ok());
  ASSERT_THAT(report->expiring_soon, SizeIs(1));
  EXPECT_THAT(report->expired_or_overdue, IsEmpty());
  clock_.Advance(26 * kDay);
  report = report_handlers_.Compliance();
  EXPECT_THAT(report->expired_or_overdue, SizeIs(1));
}

TEST_F(HandlersTest, GrantExpiryAndOptionsShapeTheLine) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "ci", PrincipalKind::kService, "").ok());
  std::string fp = AddKey("ci", 9);
  GrantRecord g = FingerprintGrant(fp, "role=web,web-*", "deploy");
  g.options = "RESTRICT,command=\"echo ok\"";
  g.expires_at = kHandlerTestStart + 2 * kDay;
  auto added = inventory_.AddGrant("admin", g);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->grant.options, "restrict,command=\"echo ok\"");
  Connect("web-1", {{"role", "web"}});
  Connect("api-1", {{"role", "web"}});
  auto lines = Lines("web-1", "deploy");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("restrict,command=\"echo ok\",expiry-time=\"202611201106Z\" "
                                  "ssh-ed25519 "));
  EXPECT_THAT(lines[0], ::testing::EndsWith(" ci"));
  EXPECT_THAT(Lines("api-1", "deploy"), IsEmpty()) << "glob web-* does not match api-1";

  auto access = report_handlers_.AccessReview("web-1", "deploy");
  ASSERT_TRUE(access.ok());
  ASSERT_THAT(access->answer.entries, SizeIs(1));
  const AccessVerdict& entry = access->answer.entries[0];
  EXPECT_EQ(entry.grant_id, added->grant.id);
  EXPECT_EQ(entry.fingerprint, fp);
  EXPECT_EQ(access->keys.at(fp).fingerprint, fp);
  // The expiry shown is the one the line carries (the grant's, to the minute), not the key's.
  ASSERT_TRUE(entry.expires_at.has_value());
  EXPECT_EQ(absl::FormatTime("%Y%m%d%H%MZ", *entry.expires_at, absl::UTCTimeZone()),
            "202611201106Z");
  EXPECT_EQ(entry.options, "restrict,command=\"echo ok\",expiry-time=\"202611201106Z\"");
  EXPECT_FALSE(access->answer.files_reported) << "no agent reported its files here";

  const uint64_t generation = agents_.DesiredState("web-1")->generation;
  clock_.Advance(2 * kDay);
  follower_.Tick();
  // An expiry changes the content, not the generation (the README's promise).
  EXPECT_EQ(agents_.DesiredState("web-1")->generation, generation);
  EXPECT_THAT(Lines("web-1", "deploy"), IsEmpty());
  auto state = agents_.DesiredState("web-1");
  ASSERT_THAT(state->accounts, SizeIs(1)) << "the account stays listed: no keys is explicit";
}

TEST_F(HandlersTest, GrantsWithPastExpiryAreAcceptedButGrantNothing) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  GrantRecord g = Grant("alice", "*", "alice");
  g.expires_at = kHandlerTestStart - kDay;
  ASSERT_TRUE(inventory_.AddGrant("admin", g).ok());
  Connect("h1", {});
  EXPECT_THAT(Lines("h1", "alice"), IsEmpty());
  EXPECT_THAT(report_handlers_.AccessReview("h1", "")->answer.entries, IsEmpty());
}

TEST_F(HandlersTest, InvalidGrantsAreRefusedWithTheReason) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  struct Case {
    std::string name;
    std::string account;
    std::string options;
    bool allow_root;
    std::string selector_glob;
    std::string want;
  };
  const Case cases[] = {
      {"empty account", "", "", false, "*", "it is empty"},
      {"slash", "a/b", "", false, "*", "'/'"},
      {"dotdot", "..", "", false, "*", "path component"},
      {"nul", std::string("a\0b", 3), "", false, "*", "NUL"},
      {"root without flag", "root", "", false, "*", "--allow-root"},
      {"upper case", "Alice", "", false, "*", "POSIX account name"},
      {"too long", std::string(33, 'a'), "", false, "*", "longer than 32"},
      {"unknown option", "deploy", "no-such-option", false, "*", "grant options are invalid"},
      {"trailing comma", "deploy", "restrict,", false, "*", "grant options are invalid"},
      {"cert-authority", "deploy", "cert-authority", false, "*", "cert-authority"},
      {"bad glob", "deploy", "", false, "web_*", "hostname glob"},
      {"empty selector", "deploy", "", false, "", "selector is empty"},
  };
  for (const Case& c : cases) {
    GrantRecord g;
    g.principal = "alice";
    g.account = c.account;
    g.options = c.options;
    g.allow_root = c.allow_root;
    g.hosts.hostname_glob = c.selector_glob;
    auto r = inventory_.AddGrant("admin", g);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(r.status().message(), HasSubstr(c.want)) << c.name;
  }
  GrantRecord root = Grant("alice", "*", "root");
  root.allow_root = true;
  EXPECT_TRUE(inventory_.AddGrant("admin", root).ok());
  GrantRecord both = Grant("alice", "*", "deploy");
  both.key_fingerprint = "SHA256:x";
  EXPECT_EQ(inventory_.AddGrant("admin", both).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inventory_.AddGrant("admin", Grant("nobody", "*", "deploy")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HandlersTest, SelectorsParseStrictly) {
  EXPECT_TRUE(ParseHostSelector("env=prod,role=web").ok());
  EXPECT_TRUE(ParseHostSelector("env=prod,web-[0-9]*").ok());
  const char* bad[] = {"",      "env=prod,", "env=",      "=prod", "env=prod,env=dev",
                       "a*,b*", "env=pr od", "env=prod;x"};
  for (const char* s : bad) EXPECT_FALSE(ParseHostSelector(s).ok()) << s;
}

TEST_F(HandlersTest, DisablingAPrincipalRemovesItsKeys) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  {
    auto g = inventory_.AddGrant("admin", Grant("alice", "*", "alice"));
    ASSERT_TRUE(g.ok()) << g.status();
  }
  Connect("h1", {});
  ASSERT_THAT(Lines("h1", "alice"), SizeIs(1));
  ASSERT_TRUE(inventory_.DisablePrincipal("admin", "alice").ok());
  EXPECT_THAT(Lines("h1", "alice"), IsEmpty());
  EXPECT_EQ(inventory_.DisablePrincipal("admin", "alice").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A grant by fingerprint reaches the host without naming the principal: disabling the principal
// must still take the line away at once (it used to stay until an unrelated change).
TEST_F(HandlersTest, DisablingAPrincipalRemovesKeysGrantedByFingerprint) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  const std::string fp = AddKey("alice", 1);
  GrantRecord by_key = FingerprintGrant(fp, "db-*", "deploy");
  ASSERT_TRUE(inventory_.AddGrant("admin", by_key).ok());
  Connect("db-1", {});
  Connect("db-2", {});
  ASSERT_THAT(Lines("db-1", "deploy"), SizeIs(1));
  const uint64_t before = agents_.DesiredState("db-1")->generation;
  ASSERT_TRUE(inventory_.DisablePrincipal("admin", "alice").ok());
  EXPECT_THAT(Lines("db-1", "deploy"), IsEmpty());
  EXPECT_THAT(Lines("db-2", "deploy"), IsEmpty());
  EXPECT_GT(agents_.DesiredState("db-1")->generation, before) << "a new state is pushed";
}

TEST_F(HandlersTest, IdenticalGrantsWriteTheLineOnce) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "*", "deploy")).ok());
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "*", "deploy")).ok());
  Connect("h1", {});
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(1));
  // Different options are different lines, and both stay.
  GrantRecord restricted = Grant("alice", "*", "deploy");
  restricted.options = "from=\"10.0.0.0/8\"";
  ASSERT_TRUE(inventory_.AddGrant("admin", restricted).ok());
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(2));
}

// A grant whose lines would pass the 8 KiB line limit could never reach a host: it is refused at
// the mutation (it used to be accepted, "converge", and grant nothing). At the limit it is taken.
TEST_F(HandlersTest, GrantsWhoseLinesWouldPassTheLineLimitAreRefused) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  const KeyRecord key =
      *view_.FindKey(view_.Keys({"alice", {}, {}, {}}, kHandlerTestStart)[0].fingerprint);
  auto line_size = [&](size_t n) {
    auto options = ParseAuthorizedKeysOptions("command=\"" + std::string(n, 'x') + "\"");
    return RenderManagedLine(*options, key.expires_at, key)
        .value_or(std::string(99999, ' '))
        .size();
  };
  const size_t n = 100 + (::keyfleet::kMaxAuthorizedKeysLineBytes - line_size(100));
  ASSERT_EQ(line_size(n), ::keyfleet::kMaxAuthorizedKeysLineBytes);
  GrantRecord at_limit = Grant("alice", "*", "deploy");
  at_limit.options = "command=\"" + std::string(n, 'x') + "\"";
  EXPECT_TRUE(inventory_.AddGrant("admin", at_limit).ok());
  GrantRecord past = Grant("alice", "*", "ops");
  past.options = "command=\"" + std::string(n + 1, 'x') + "\"";
  absl::Status refused = inventory_.AddGrant("admin", past).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("the limit is 8192"));
  // A key or a label that would push a line of an existing grant past the limit is refused too.
  auto rsa = inventory_.AddKeys("admin", "alice", {testing::Vector("rsa2048").line}, "");
  EXPECT_EQ(rsa.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rsa.status().message(), HasSubstr("the limit is 8192"));
  EXPECT_EQ(inventory_.LabelKey("admin", key.fingerprint, "laptop").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HandlersTest, LabelsAreEditableAndShowInTheLineComment) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  std::string fp = AddKey("alice", 1);
  {
    auto g = inventory_.AddGrant("admin", Grant("alice", "*", "alice"));
    ASSERT_TRUE(g.ok()) << g.status();
  }
  Connect("h1", {});
  ASSERT_TRUE(inventory_.LabelKey("admin", fp, "yubikey").ok());
  EXPECT_THAT(Lines("h1", "alice")[0], ::testing::EndsWith(" alice/yubikey"));
  EXPECT_EQ(inventory_.LabelKey("admin", fp, "two words").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HandlersTest, RelabelledHostsMoveBetweenGrants) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "env=prod", "alice")).ok());
  Connect("h1", {{"env", "dev"}});
  EXPECT_THAT(agents_.DesiredState("h1")->accounts, IsEmpty());
  Connect("h1", {{"env", "prod"}});
  EXPECT_THAT(Lines("h1", "alice"), SizeIs(1));
}

TEST_F(HandlersTest, AuditRecordsEveryMutationAndVerifies) {
  ASSERT_TRUE(inventory_.AddPrincipal("carol", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  auto events = report_handlers_.ListAudit(absl::InfinitePast());
  ASSERT_TRUE(events.ok());
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[0].actor, "carol");
  EXPECT_EQ((*events)[1].action, "key.add");
  auto verified = report_handlers_.VerifyAudit();
  EXPECT_TRUE(verified->ok);
}

TEST_F(HandlersTest, PolicyValidation) {
  PolicyRecord p;
  p.max_key_age = absl::Hours(1);
  EXPECT_EQ(inventory_.SetPolicy("admin", p).status().code(), absl::StatusCode::kInvalidArgument);
  p = PolicyRecord{};
  p.key_policy.min_rsa_bits = 1024;
  EXPECT_EQ(inventory_.SetPolicy("admin", p).status().code(), absl::StatusCode::kInvalidArgument);
  p = PolicyRecord{};
  p.warning_window = 400 * kDay;
  EXPECT_EQ(inventory_.SetPolicy("admin", p).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

// Limits of what one host can hold (common/delivery_limits.h), checked when the change is made:
// at the limit it is taken, one past it is refused naming the limit, the host and the account,
// and nothing changes (it used to be accepted, then refused by the agent, and reported applied).
class DeliveryLimitsTest : public HandlersTest {
 protected:
  std::vector<std::string> Keys(uint64_t first, size_t count) {
    std::vector<std::string> lines;
    for (uint64_t n = first; n < first + count; ++n) lines.push_back(Ed(n));
    return lines;
  }
  // The managed block's size as the limit counts it.
  size_t BlockBytes(const std::string& host, const std::string& account) {
    size_t bytes = ::keyfleet::kManagedBlockMarkerBytes;
    for (const std::string& line : Lines(host, account)) bytes += line.size() + 1;
    return bytes;
  }
};

TEST_F(DeliveryLimitsTest, KeysPerAccount) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "bob", PrincipalKind::kPerson, "").ok());
  Connect("h1", {{"env", "prod"}});
  Connect("h2", {});
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "env=prod", "deploy")).ok());
  auto at_limit =
      inventory_.AddKeys("admin", "alice", Keys(1, ::keyfleet::kMaxManagedKeysPerAccount), "");
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(::keyfleet::kMaxManagedKeysPerAccount));

  absl::Status past = inventory_.AddKeys("admin", "alice", {Ed(100000)}, "").status();
  EXPECT_EQ(past.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(past.message(),
              HasSubstr("host h1: account \"deploy\" would hold 4097 managed keys"));
  EXPECT_THAT(past.message(), HasSubstr("the limit is 4096 per account"));
  EXPECT_THAT(view_.Keys({"alice", {}, {}, {}}, kHandlerTestStart),
              SizeIs(::keyfleet::kMaxManagedKeysPerAccount))
      << "nothing was added";
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(::keyfleet::kMaxManagedKeysPerAccount));

  // Another way to the same account: a grant of one more key.
  const std::string bobs = AddKey("bob", 200000);
  GrantRecord one_more = FingerprintGrant(bobs, "*", "deploy");
  absl::Status refused = inventory_.AddGrant("admin", one_more).status();
  EXPECT_THAT(refused.message(), HasSubstr("host h1: account \"deploy\" would hold 4097"));
  // To a host where it fits, it is fine; relabelling that host into the full grant is refused.
  one_more.hosts = *ParseHostSelector("h2");
  ASSERT_TRUE(inventory_.AddGrant("admin", one_more).ok());
  ProposedChange relabel;
  relabel.relabelled_host = *view_.FindHost("h2");
  relabel.relabelled_host->labels = {{"env", "prod"}};
  absl::Status relabelled = view_.CheckDelivery(relabel, kHandlerTestStart);
  EXPECT_THAT(relabelled.message(), HasSubstr("host h2: account \"deploy\" would hold 4097"));
}

TEST_F(DeliveryLimitsTest, ManagedBlockBytesAtTheLimitAndOnePast) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  auto keys = inventory_.AddKeys("admin", "alice", Keys(1, 110), "");
  ASSERT_TRUE(keys.ok()) << keys.status();
  Connect("h1", {});
  GrantRecord big = Grant("alice", "*", "deploy");
  big.options = "command=\"" + std::string(7000, 'x') + "\"";
  ASSERT_TRUE(inventory_.AddGrant("admin", big).ok());
  const size_t used = BlockBytes("h1", "deploy");
  ASSERT_LT(used, ::keyfleet::kMaxManagedBlockBytes);
  // One more line, sized to fill the block exactly.
  const KeyRecord key = keys->keys[0];
  auto line_size = [&](size_t n) {
    auto options = ParseAuthorizedKeysOptions("command=\"" + std::string(n, 'y') + "\"");
    return RenderManagedLine(*options, key.expires_at, key).value_or("").size();
  };
  const size_t want = ::keyfleet::kMaxManagedBlockBytes - used - 1;  // plus its newline
  const size_t n = 100 + want - line_size(100);
  ASSERT_EQ(line_size(n), want);
  GrantRecord fill = FingerprintGrant(key.fingerprint, "*", "deploy");
  fill.options = "command=\"" + std::string(n + 1, 'y') + "\"";
  absl::Status past = inventory_.AddGrant("admin", fill).status();
  EXPECT_EQ(past.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(past.message(), HasSubstr("host h1: account \"deploy\" would need 786433 bytes"));
  EXPECT_THAT(past.message(), HasSubstr("at most 786432 bytes"));
  fill.options = "command=\"" + std::string(n, 'y') + "\"";
  ASSERT_TRUE(inventory_.AddGrant("admin", fill).ok());
  EXPECT_EQ(BlockBytes("h1", "deploy"), ::keyfleet::kMaxManagedBlockBytes);
  // A longer label lengthens every line's comment: refused too.
  EXPECT_EQ(inventory_.LabelKey("admin", key.fingerprint, "laptop").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DeliveryLimitsTest, DesiredStateBytes) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddKeys("admin", "alice", Keys(1, 110), "").ok());
  Connect("h1", {});
  GrantRecord big = Grant("alice", "*", "a1");
  big.options = "command=\"" + std::string(7000, 'x') + "\"";
  size_t accepted = 0;
  absl::Status refused;
  for (int i = 1; i <= 8 && refused.ok(); ++i) {
    big.account = "a" + std::to_string(i);
    refused = inventory_.AddGrant("admin", big).status();
    if (refused.ok()) ++accepted;
  }
  // Each account holds ~782 KB (under the per-file share); five fit in 4 MiB, six do not.
  EXPECT_EQ(accepted, 5u);
  EXPECT_THAT(refused.message(), HasSubstr("host h1: its desired state would be about"));
  EXPECT_THAT(refused.message(), HasSubstr("the limit is 4194304 bytes per host"));
  EXPECT_EQ(agents_.DesiredState("h1")->accounts.size(), 5u);
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

// `key rotate` on a fixed clock: the successor gets every grant (the principal's reach it, the
// old fingerprint's are copied), the old key is superseded and keeps logging in until the
// overlap ends — its line carries that end as expiry-time, so sshd enforces it alone.
TEST_F(HandlersTest, RotationTimeline) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  const std::string k1 = AddKey("alice", 1);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "*", "alice")).ok());
  GrantRecord by_fp = FingerprintGrant(k1, "*", "deploy");
  by_fp.options = "restrict";
  ASSERT_TRUE(inventory_.AddGrant("admin", by_fp).ok());
  Connect("h1", {});

  auto rotated = inventory_.RotateKey("admin", k1, Ed(2), "", std::nullopt);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  const std::string k2 = rotated->new_key.fingerprint;
  ASSERT_THAT(rotated->carried, SizeIs(1));
  EXPECT_EQ(rotated->carried[0].key_fingerprint, k2);
  EXPECT_EQ(rotated->carried[0].options, "restrict");
  const KeyRecord old_key = *view_.FindKey(k1);
  EXPECT_EQ(old_key.state, KeyState::kSuperseded);
  EXPECT_EQ(old_key.successor_fingerprint, k2);
  EXPECT_EQ(old_key.expires_at, kHandlerTestStart + 14 * kDay) << "the policy's overlap";
  EXPECT_EQ(view_.PredecessorOf(k2), k1);
  EXPECT_EQ(FleetView::EffectiveKeyState(old_key, kHandlerTestStart), "superseded");
  // During the overlap both keys log in, in both accounts; the old line ends with the overlap.
  EXPECT_THAT(Lines("h1", "alice"), SizeIs(2));
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(2));
  const std::string overlap_end =
      absl::FormatTime("%Y%m%d%H%MZ", kHandlerTestStart + 14 * kDay, absl::UTCTimeZone());
  EXPECT_THAT(absl::StrJoin(Lines("h1", "alice"), "\n"),
              HasSubstr("expiry-time=\"" + overlap_end + "\""));
  // A key is rotated once; its successor is what rotates next.
  auto again = inventory_.RotateKey("admin", k1, Ed(3), "", std::nullopt);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already rotated to " + k2));

  clock_.Advance(14 * kDay + absl::Minutes(1));
  follower_.Tick();
  EXPECT_THAT(Lines("h1", "alice"), SizeIs(1)) << "the overlap is over";
  EXPECT_THAT(Lines("h1", "deploy"), SizeIs(1));

  // Rotating twice, the second time with --now (a replaced laptop): the old key leaves at once.
  auto now = inventory_.RotateKey("admin", k2, Ed(3), "laptop", absl::ZeroDuration());
  ASSERT_TRUE(now.ok()) << now.status();
  const std::string k3 = now->new_key.fingerprint;
  EXPECT_EQ(now->new_key.label, "laptop");
  ASSERT_THAT(now->carried, SizeIs(1)) << "the grant carried to k2 is carried on to k3";
  ASSERT_THAT(Lines("h1", "alice"), SizeIs(1));
  EXPECT_THAT(Lines("h1", "alice")[0], HasSubstr(" alice/laptop"));
  ASSERT_THAT(Lines("h1", "deploy"), SizeIs(1));
  EXPECT_EQ(view_.FindKey(k2)->expires_at, kHandlerTestStart + 14 * kDay + absl::Minutes(1));
}

TEST_F(HandlersTest, RotationRefusals) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "bob", PrincipalKind::kPerson, "").ok());
  const std::string k1 = AddKey("alice", 1);
  const std::string bobs = AddKey("bob", 5);
  struct Row {
    std::string name, old_fp, new_key;
    std::optional<absl::Duration> overlap;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Row> rows = {
      {"unknown old key", "SHA256:" + std::string(43, 'A'), Ed(2), std::nullopt,
       absl::StatusCode::kNotFound, ""},
      {"the same key", k1, Ed(1), std::nullopt, absl::StatusCode::kInvalidArgument,
       "the new key is the old one"},
      {"not a key", k1, "ssh-ed25519 nope", std::nullopt, absl::StatusCode::kInvalidArgument,
       "the new key: "},
      {"someone else's key", k1, Ed(5), std::nullopt, absl::StatusCode::kAlreadyExists,
       "belongs to principal \"bob\""},
      {"negative overlap", k1, Ed(2), -absl::Hours(1), absl::StatusCode::kInvalidArgument,
       "between 0"},
      {"overlap past the max age", k1, Ed(2), 400 * kDay, absl::StatusCode::kInvalidArgument,
       "max key age"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    auto r = inventory_.RotateKey("admin", row.old_fp, row.new_key, "", row.overlap);
    EXPECT_EQ(r.status().code(), row.code) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(row.says));
  }
  EXPECT_EQ(view_.FindKey(k1)->state, KeyState::kActive) << "nothing changed";
  ASSERT_TRUE(inventory_.RevokeKey("admin", bobs, "stolen").ok());
  auto revoked = inventory_.RotateKey("admin", bobs, Ed(6), "", std::nullopt);
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(revoked.status().message(), HasSubstr("is revoked"));
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

// `report rotation` on a fixed clock (policy: 365 d max age, 30 d warning window).
TEST_F(HandlersTest, RotationReportCountsTheCampaign) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "bob", PrincipalKind::kPerson, "").ok());
  const std::string old_alice = AddKey("alice", 1);  // day 0
  const std::string old_bob = AddKey("bob", 2);      // day 0
  clock_.Advance(200 * kDay);
  const std::string fresh_bob = AddKey("bob", 3);  // day 200
  clock_.Advance(140 * kDay);                      // day 340: the day-0 keys are due
  {
    RotationReport r = report_handlers_.Rotation();
    EXPECT_EQ(r.overall.keys, 3u);
    EXPECT_EQ(r.overall.due, 2u);
    EXPECT_EQ(r.overall.rotated, 1u);
    EXPECT_EQ(r.overall.overdue, 0u);
  }
  // alice rotates; bob does not, and his old key goes overdue at day 365.
  ASSERT_TRUE(inventory_.RotateKey("admin", old_alice, Ed(4), "", std::nullopt).ok());
  clock_.Advance(30 * kDay);  // day 370
  RotationReport r = report_handlers_.Rotation();
  EXPECT_EQ(r.cycle_start, kHandlerTestStart + 5 * kDay);
  ASSERT_EQ(r.owners.size(), 2u);
  const OwnerRotation& alice = r.owners[0];
  EXPECT_EQ(alice.principal, "alice");
  EXPECT_EQ(alice.keys, 1u) << "the superseded key no longer counts";
  EXPECT_EQ(alice.rotated, 1u);
  const OwnerRotation& bob = r.owners[1];
  EXPECT_EQ(bob.keys, 2u);
  EXPECT_EQ(bob.overdue, 1u);
  EXPECT_EQ(bob.overdue_fingerprints, std::vector<std::string>{old_bob});
  EXPECT_EQ(bob.rotated, 1u) << fresh_bob;
  EXPECT_EQ(r.overall.keys, 3u);
  EXPECT_EQ(r.overall.rotated, 2u);
  EXPECT_EQ(r.overall.overdue, 1u);
}

// People and services may have their own rule: a service key lives 90 days, a person's 365.
TEST_F(HandlersTest, PolicyPerPrincipalKind) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "ci", PrincipalKind::kService, "").ok());
  PolicyRecord policy;
  policy.service_rule = RotationRule{90 * kDay, 7 * kDay, 1 * kDay};
  ASSERT_TRUE(inventory_.SetPolicy("admin", policy).ok());
  EXPECT_EQ(inventory_.GetPolicy().RuleFor(PrincipalKind::kService).max_key_age, 90 * kDay);
  EXPECT_EQ(inventory_.GetPolicy().RuleFor(PrincipalKind::kPerson).max_key_age, 365 * kDay);

  const std::string alice_key = AddKey("alice", 1);
  const std::string ci_key = AddKey("ci", 2);
  EXPECT_EQ(inventory_.GetKey(alice_key)->expires_at, kHandlerTestStart + 365 * kDay);
  EXPECT_EQ(inventory_.GetKey(ci_key)->expires_at, kHandlerTestStart + 90 * kDay);

  // The service's overlap is its own (1 day), and so is its cap on --overlap.
  auto rotated = inventory_.RotateKey("admin", ci_key, Ed(3), "", std::nullopt);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->old_key.expires_at, kHandlerTestStart + kDay);
  auto too_long =
      inventory_.RotateKey("admin", rotated->new_key.fingerprint, Ed(4), "", 100 * kDay);
  EXPECT_THAT(too_long.status().message(), HasSubstr("max key age (90d)"));

  // Day 85: the service key is due (7-day window), alice's is not.
  clock_.Advance(85 * kDay);
  RotationReport r = report_handlers_.Rotation();
  ASSERT_EQ(r.owners.size(), 2u);
  EXPECT_EQ(r.owners[1].principal, "ci");
  EXPECT_EQ(r.owners[1].due, 1u);
  EXPECT_EQ(r.owners[0].due, 0u);

  // A bad per-kind rule is refused with the kind named.
  PolicyRecord bad;
  bad.person_rule = RotationRule{30 * kDay, 60 * kDay, kDay};
  EXPECT_THAT(inventory_.SetPolicy("admin", bad).status().message(),
              HasSubstr("people's warning window"));
}

// --apply-to-existing on a fixed clock: lives shorten to created + max age, but a key already
// past the new max age keeps the warning window from now; a dry run changes nothing.
TEST_F(HandlersTest, ApplyToExistingShortensLivesWithNotice) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "ci", PrincipalKind::kService, "").ok());
  const std::string old_ci = AddKey("ci", 1);  // day 0
  clock_.Advance(60 * kDay);
  const std::string new_ci = AddKey("ci", 2);  // day 60
  const std::string alice_key = AddKey("alice", 3);
  const std::string revoked = AddKey("ci", 4);
  ASSERT_TRUE(inventory_.RevokeKey("admin", revoked, "test").ok());
  clock_.Advance(40 * kDay);  // day 100

  PolicyRecord policy;
  policy.service_rule = RotationRule{90 * kDay, 14 * kDay, kDay};
  using Existing = InventoryHandlers::ExistingKeys;
  auto dry = inventory_.SetPolicy("admin", policy, Existing::kDryRun);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->change, 0u);
  ASSERT_EQ(dry->shortened.size(), 2u) << "only the service's live keys";
  EXPECT_EQ(dry->shortened[0].fingerprint < dry->shortened[1].fingerprint, true);
  EXPECT_FALSE(inventory_.GetPolicy().service_rule.has_value()) << "a dry run changes nothing";
  EXPECT_EQ(inventory_.GetKey(old_ci)->expires_at, kHandlerTestStart + 365 * kDay);

  // Without --apply-to-existing the keys stay; the report lists the old one overdue.
  auto kept = inventory_.SetPolicy("admin", policy);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->shortened.size(), 2u);
  EXPECT_EQ(inventory_.GetKey(old_ci)->expires_at, kHandlerTestStart + 365 * kDay);
  EXPECT_EQ(report_handlers_.Rotation().overall.overdue, 1u);

  auto applied = inventory_.SetPolicy("admin", policy, Existing::kShorten);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_GT(applied->change, kept->change) << "the policy is unchanged, the keys are a change";
  // Day 100: the day-0 key is past 90 days: it gets 14 days' notice, not an instant cut.
  EXPECT_EQ(inventory_.GetKey(old_ci)->expires_at, kHandlerTestStart + 114 * kDay);
  EXPECT_EQ(inventory_.GetKey(new_ci)->expires_at, kHandlerTestStart + 150 * kDay);
  EXPECT_EQ(inventory_.GetKey(alice_key)->expires_at, kHandlerTestStart + 425 * kDay)
      << "people unchanged";
  // Applying again finds nothing more to shorten.
  auto again = inventory_.SetPolicy("admin", policy, Existing::kShorten);
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->shortened, IsEmpty());
  auto events = report_handlers_.ListAudit(absl::InfinitePast());
  ASSERT_TRUE(events.ok());
  int shortened_events = 0;
  for (const AuditEvent& e : *events) shortened_events += e.action == "key.shorten";
  EXPECT_EQ(shortened_events, 2);
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

// The dashboard's fleet page: every host in exactly one state, drift counted by kind, lists
// capped, a caller's scope applied.
TEST_F(HandlersTest, FleetStatusPutsEveryHostInOneState) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "role=web", "deploy")).ok());
  for (const char* host : {"web-1", "web-2", "web-3"}) Connect(host, {{"role", "web"}});
  Connect("db-1", {{"role", "db"}});
  auto report = [&](const std::string& host, const std::string& drift, const std::string& failed) {
    auto state = agents_.DesiredState(host);
    ASSERT_TRUE(state.ok());
    HostReport r = AppliedReport(*state, host, clock_.Now());
    r.drift_json = drift;
    r.failed_accounts_json = failed;
    ASSERT_TRUE(agents_.Report(r).ok());
  };
  report("web-1", "[]", "[]");
  report("web-2",
         R"([{"account":"deploy","kind":"DRIFT_KIND_UNMANAGED_KEY"},)"
         R"({"account":"deploy","kind":"DRIFT_KIND_UNMANAGED_KEY"},)"
         R"({"kind":"DRIFT_KIND_LEFT_OUT","leftOut":5}])",
         R"([{"account":"deploy","reason":"disk full"}])");
  report("web-3", R"([{"account":"deploy","kind":"DRIFT_KIND_UNMANAGED_KEY"}])", "[]");
  ASSERT_TRUE(reports_.Flush().ok());
  // web-3 falls silent: after the connected window it is offline, whatever it reported.
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(store_.TouchHosts({"web-1", "web-2", "db-1"}, clock_.Now()).ok());

  auto all = [](const HostRecord&) { return true; };
  auto fleet = report_handlers_.Fleet(100, all);
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->hosts, 4u);
  EXPECT_EQ(fleet->converged, 1u);  // web-1
  EXPECT_EQ(fleet->failed, 1u);     // web-2
  EXPECT_EQ(fleet->pending, 1u);    // db-1: never reported
  EXPECT_EQ(fleet->offline, 1u);    // web-3
  EXPECT_EQ(fleet->not_seen, 0u);   // not yet for host_stale_after
  ASSERT_THAT(fleet->failed_hosts, SizeIs(1));
  EXPECT_EQ(fleet->failed_hosts[0].host.hostname, "web-2");
  ASSERT_THAT(fleet->failed_hosts[0].failed_accounts, SizeIs(1));
  EXPECT_EQ(fleet->failed_hosts[0].failed_accounts[0].reason, "disk full");
  EXPECT_EQ(fleet->failed_hosts[0].host.drift_json, "[]") << "lists carry no drift";
  ASSERT_THAT(fleet->pending_hosts, SizeIs(1));
  EXPECT_EQ(fleet->pending_hosts[0].host.hostname, "db-1");
  ASSERT_THAT(fleet->offline_hosts, SizeIs(1));
  EXPECT_EQ(fleet->offline_hosts[0].host.hostname, "web-3");
  EXPECT_FALSE(fleet->lists_truncated);
  EXPECT_EQ(fleet->drift["DRIFT_KIND_UNMANAGED_KEY"].hosts, 2u);
  EXPECT_EQ(fleet->drift["DRIFT_KIND_UNMANAGED_KEY"].items, 3u);
  EXPECT_EQ(fleet->drift["DRIFT_KIND_LEFT_OUT"].items, 5u) << "what the agent left out counts";

  auto capped = report_handlers_.Fleet(0, all);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->hosts, 4u) << "counts are whole";
  EXPECT_THAT(capped->pending_hosts, IsEmpty());
  EXPECT_TRUE(capped->lists_truncated);

  auto db_only = report_handlers_.Fleet(100, [](const HostRecord& h) {
    return h.labels.count("role") && h.labels.at("role") == "db";
  });
  ASSERT_TRUE(db_only.ok());
  EXPECT_EQ(db_only->hosts, 1u);
  EXPECT_EQ(db_only->pending, 1u);
  EXPECT_TRUE(db_only->drift.empty());

  // Read in batches smaller than the fleet, each ending on a listed host: the same answer (a
  // listed host's record once gave the next batch an empty cursor, and it never ended).
  for (size_t batch : {1, 2, 3}) {
    auto batched = report_handlers_.Fleet(100, all, nullptr, batch);
    ASSERT_TRUE(batched.ok()) << batch;
    EXPECT_EQ(batched->hosts, 4u) << batch;
    EXPECT_EQ(batched->pending, 1u) << batch;
    EXPECT_EQ(batched->offline, 1u) << batch;
    EXPECT_EQ(batched->drift["DRIFT_KIND_UNMANAGED_KEY"].items, 3u) << batch;
  }
  EXPECT_EQ(report_handlers_.Fleet(100, all, [] { return true; }).status().code(),
            absl::StatusCode::kCancelled);

  clock_.Advance(absl::Hours(1));
  fleet = report_handlers_.Fleet(100, all);
  EXPECT_EQ(fleet->offline, 4u);
  EXPECT_EQ(fleet->not_seen, 4u);
}

// Where a key or a principal logs in: the hosts its grants reach, by account, with whether each
// host has applied it.
TEST_F(HandlersTest, KeyReachFollowsTheGrantsToEveryHost) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "bob", PrincipalKind::kPerson, "").ok());
  const std::string a1 = AddKey("alice", 1);
  const std::string a2 = AddKey("alice", 2);
  const std::string b1 = AddKey("bob", 3);
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("alice", "role=web", "deploy")).ok());
  GrantRecord only_web1 = FingerprintGrant(a1, "web-1", "alice");
  only_web1.options = "restrict";
  ASSERT_TRUE(inventory_.AddGrant("admin", only_web1).ok());
  ASSERT_TRUE(inventory_.AddGrant("admin", Grant("bob", "role=db", "bob")).ok());
  Connect("web-1", {{"role", "web"}});
  Connect("web-2", {{"role", "web"}});
  Connect("db-1", {{"role", "db"}});
  auto state = agents_.DesiredState("web-1");
  ASSERT_TRUE(agents_.Report(AppliedReport(*state, "web-1", clock_.Now())).ok());
  ASSERT_TRUE(reports_.Flush().ok());
  auto everywhere = [](const Labels&) { return true; };

  auto reach = report_handlers_.Reach("", a1, 100, everywhere);
  ASSERT_TRUE(reach.ok()) << reach.status();
  std::vector<std::string> where;
  for (const ReachLine& l : reach->reach.lines) where.push_back(l.hostname + ":" + l.line.account);
  EXPECT_THAT(where, ElementsAre("web-1:alice", "web-1:deploy", "web-2:deploy"));
  EXPECT_EQ(reach->reach.hosts, 2u);
  EXPECT_EQ(reach->reach.accounts, 3u);
  EXPECT_THAT(reach->applied, ElementsAre("web-1"));
  EXPECT_EQ(reach->grant_options.at(reach->reach.lines[0].line.grant_id), "restrict");

  reach = report_handlers_.Reach("alice", "", 100, everywhere);
  ASSERT_TRUE(reach.ok());
  EXPECT_EQ(reach->reach.total, 5u);  // a1 and a2 on web-1 and web-2 as deploy, a1 as alice
  reach = report_handlers_.Reach("alice", "", 2, everywhere);
  EXPECT_THAT(reach->reach.lines, SizeIs(2));
  EXPECT_EQ(reach->reach.total, 5u);
  EXPECT_EQ(reach->reach.hosts, 2u) << "counted over every line, not only those listed";

  reach = report_handlers_.Reach("", b1, 100, everywhere);
  ASSERT_THAT(reach->reach.lines, SizeIs(1));
  EXPECT_EQ(reach->reach.lines[0].hostname, "db-1");
  EXPECT_THAT(reach->applied, IsEmpty());

  reach = report_handlers_.Reach("", a1, 100, [](const Labels& l) { return l.at("role") == "db"; });
  EXPECT_THAT(reach->reach.lines, IsEmpty()) << "a scoped caller sees only its hosts";

  ASSERT_TRUE(inventory_.RevokeKey("admin", a2, "lost").ok());
  reach = report_handlers_.Reach("", a2, 100, everywhere);
  EXPECT_THAT(reach->reach.lines, IsEmpty()) << "a revoked key reaches nowhere";

  EXPECT_EQ(report_handlers_.Reach("", "SHA256:nope", 10, everywhere).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(report_handlers_.Reach("nobody", "", 10, everywhere).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(report_handlers_.Reach("alice", a1, 10, everywhere).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report_handlers_.Reach("", "", 10, everywhere).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A host whose KRL does not hold the fleet's revocations has not converged: sshd there may still
// accept a revoked key. It is failed, with the agent's error as the reason, wherever failed hosts
// are counted.
TEST_F(HandlersTest, AHostWhoseKrlIsBehindIsFailedWithTheReason) {
  ASSERT_TRUE(inventory_.AddPrincipal("admin", "alice", PrincipalKind::kPerson, "").ok());
  AddKey("alice", 1);
  Connect("web-1", {{"role", "web"}});
  Connect("web-2", {{"role", "web"}});
  auto granted = inventory_.AddGrant("admin", Grant("alice", "role=web", "deploy"));
  ASSERT_TRUE(granted.ok()) << granted.status();
  for (const char* host : {"web-1", "web-2"}) {
    auto state = agents_.DesiredState(host);
    ASSERT_TRUE(state.ok());
    HostReport r = AppliedReport(*state, host, clock_.Now());
    if (std::string(host) == "web-1") {
      r.revocations_error = "cannot write /etc/ssh/keyfleet/revoked.krl: disk full";
    }
    ASSERT_TRUE(agents_.Report(r).ok());
  }
  ASSERT_TRUE(reports_.Flush().ok());

  auto fleet = report_handlers_.Fleet(100, [](const HostRecord&) { return true; });
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->converged, 1u);
  EXPECT_EQ(fleet->failed, 1u);
  ASSERT_THAT(fleet->failed_hosts, SizeIs(1));
  EXPECT_EQ(fleet->failed_hosts[0].host.hostname, "web-1");
  ASSERT_THAT(fleet->failed_hosts[0].failed_accounts, SizeIs(1));
  EXPECT_EQ(fleet->failed_hosts[0].failed_accounts[0].account, "");
  EXPECT_THAT(fleet->failed_hosts[0].failed_accounts[0].reason,
              HasSubstr("KRL (sshd's RevokedKeys) does not hold the fleet's revocations: cannot "
                        "write /etc/ssh/keyfleet/revoked.krl: disk full"));

  auto host = report_handlers_.GetHost("web-1");
  ASSERT_TRUE(host.ok());
  EXPECT_FALSE(host->converged);
  EXPECT_EQ(host->host.revocations_error, "cannot write /etc/ssh/keyfleet/revoked.krl: disk full");

  auto rollout = report_handlers_.Rollout(granted->change);
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_EQ(rollout->targeted, 2u);
  EXPECT_EQ(rollout->converged, 1u);
  ASSERT_THAT(rollout->failed, SizeIs(1));
  EXPECT_EQ(rollout->failed[0].first, "web-1");

  // The next report, with the KRL written, clears it.
  auto state = agents_.DesiredState("web-1");
  ASSERT_TRUE(agents_.Report(AppliedReport(*state, "web-1", clock_.Now())).ok());
  ASSERT_TRUE(reports_.Flush().ok());
  EXPECT_TRUE(report_handlers_.GetHost("web-1")->converged);
}

// `keyfleet known-hosts`: each selected host's reported keys in hostname order, hosts that
// reported none listed with none (never left out), a page at a time, and only the hosts
// `visible` accepts (a scoped operator's).
TEST_F(HandlersTest, KnownHostsListsTheSelectedHostsWithTheirKeys) {
  Connect("web-1", {{"role", "web"}, {"team", "pay"}});
  Connect("web-2", {{"role", "web"}});
  Connect("db-1", {{"role", "db"}, {"team", "pay"}});
  const std::string ed =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  const std::string rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ";
  auto state = agents_.DesiredState("web-1");
  ASSERT_TRUE(state.ok());
  HostReport r = AppliedReport(*state, "web-1", clock_.Now());
  r.host_public_keys = {ed, rsa};
  ASSERT_TRUE(agents_.Report(r).ok());
  ASSERT_TRUE(reports_.Flush().ok());

  HostHandlers hosts(ctx_, "");
  auto all = [](const HostRecord&) { return true; };
  auto names = [](const std::vector<HostKnownKeys>& page) {
    std::vector<std::string> out;
    for (const HostKnownKeys& h : page) out.push_back(h.hostname);
    return out;
  };
  auto every = hosts.KnownHostsAfter(*ParseHostSelector("*"), "", 100, all);
  ASSERT_TRUE(every.ok()) << every.status();
  EXPECT_THAT(names(*every), ElementsAre("db-1", "web-1", "web-2"));
  EXPECT_THAT((*every)[0].public_keys, IsEmpty());
  EXPECT_THAT((*every)[1].public_keys, ElementsAre(ed, rsa));

  auto unset = hosts.KnownHostsAfter(HostSelector{}, "", 100, all);
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_THAT(names(*unset), ElementsAre("db-1", "web-1", "web-2")) << "no selector: every host";

  auto web = hosts.KnownHostsAfter(*ParseHostSelector("role=web"), "", 100, all);
  ASSERT_TRUE(web.ok());
  EXPECT_THAT(names(*web), ElementsAre("web-1", "web-2"));
  auto glob = hosts.KnownHostsAfter(*ParseHostSelector("db-*"), "", 100, all);
  ASSERT_TRUE(glob.ok());
  EXPECT_THAT(names(*glob), ElementsAre("db-1"));

  // A scoped operator (team=pay) asking for every host sees its own only.
  auto pay = [](const HostRecord& h) {
    return h.labels.count("team") && h.labels.at("team") == "pay";
  };
  auto scoped = hosts.KnownHostsAfter(*ParseHostSelector("*"), "", 100, pay);
  ASSERT_TRUE(scoped.ok());
  EXPECT_THAT(names(*scoped), ElementsAre("db-1", "web-1"));

  auto first = hosts.KnownHostsAfter(*ParseHostSelector("*"), "", 1, all);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(names(*first), ElementsAre("db-1"));
  auto next = hosts.KnownHostsAfter(*ParseHostSelector("*"), "db-1", 1, all);
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(names(*next), ElementsAre("web-1"));

  HostSelector bad;
  bad.hostname_glob = "web/1";
  EXPECT_EQ(hosts.KnownHostsAfter(bad, "", 100, all).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keyfleet::controller
