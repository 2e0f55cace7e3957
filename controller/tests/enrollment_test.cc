// Join tokens and enrollment rules without a network: the token's text form (table of good and
// bad tokens), the checks a token must pass, the hostname rules, and the host admin handlers
// (labels, removal, tokens) over a FakeStore with a fixed clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "controller/enrollment_rules.h"
#include "controller/fleet_view.h"
#include "controller/handlers/enrollment_handlers.h"
#include "controller/handlers/host_handlers.h"
#include "controller/secret_token.h"
#include "controller/tests/fake_store.h"
#include "controller/view_follower.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

TEST(JoinToken, GeneratedTokensParseBackToTheSameIdAndHash) {
  absl::StatusOr<SecretTokenParts> a = GenerateSecretToken(kJoinTokenFormat);
  absl::StatusOr<SecretTokenParts> b = GenerateSecretToken(kJoinTokenFormat);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->text, b->text);
  EXPECT_EQ(a->text.size(), 5u + 16 + 1 + 64);
  absl::StatusOr<SecretTokenParts> parsed = ParseSecretToken(kJoinTokenFormat, a->text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, a->id);
  EXPECT_EQ(parsed->secret_hash, a->secret_hash);
  EXPECT_EQ(parsed->text, "") << "the secret is not kept around";
  EXPECT_EQ(a->text.find(a->secret_hash), std::string::npos) << "only the hash is stored";
}

TEST(JoinToken, MalformedTokensAreRefusedAsUnauthenticated) {
  const std::string id(16, 'a');
  const std::string secret(64, 'b');
  struct Row {
    const char* why;
    std::string text;
  };
  const Row rows[] = {
      {"empty", ""},
      {"no prefix", id + "_" + secret},
      {"wrong prefix", "kfXt_" + id + "_" + secret},
      {"short id", "kfjt_" + id.substr(1) + "_" + secret},
      {"long secret", "kfjt_" + id + "_" + secret + "b"},
      {"short secret", "kfjt_" + id + "_" + secret.substr(1)},
      {"missing separator", "kfjt_" + id + "-" + secret},
      {"uppercase hex", "kfjt_" + std::string(16, 'A') + "_" + secret},
      {"not hex", "kfjt_" + id + "_" + std::string(63, 'b') + "g"},
      {"leading space", " kfjt_" + id + "_" + secret.substr(1)},
      {"trailing newline", "kfjt_" + id + "_" + secret.substr(1) + "\n"},
      {"NUL inside", "kfjt_" + id + "_" + secret.substr(1) + std::string(1, '\0')},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.why);
    absl::StatusOr<SecretTokenParts> parsed = ParseSecretToken(kJoinTokenFormat, row.text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("malformed join token"));
  }
  EXPECT_TRUE(ParseSecretToken(kJoinTokenFormat, "kfjt_" + id + "_" + secret).ok());
}

JoinTokenRecord Token() {
  JoinTokenRecord t;
  t.id = "0123456789abcdef";
  t.secret_hash = std::string(64, 'c');
  t.created_at = kT0;
  t.expires_at = kT0 + absl::Hours(1);
  t.uses_allowed = 1;
  return t;
}

TEST(EnrollmentRules, ATokenMustMatchAndBeLive) {
  JoinTokenRecord ok = Token();
  EXPECT_TRUE(CheckJoinToken(ok, ok.secret_hash, kT0).ok());
  EXPECT_STREQ(JoinTokenState(ok, kT0), "active");

  JoinTokenRecord revoked = Token();
  revoked.revoked_at = kT0;
  JoinTokenRecord used = Token();
  used.uses = 1;
  struct Row {
    const char* why;
    JoinTokenRecord token;
    std::string hash;
    absl::Time now;
    const char* message;
    const char* state;
  };
  const Row rows[] = {
      {"wrong secret", Token(), std::string(64, 'd'), kT0, "secret does not match", "active"},
      {"shorter hash", Token(), std::string(63, 'c'), kT0, "secret does not match", "active"},
      {"revoked", revoked, revoked.secret_hash, kT0, "revoked", "revoked"},
      {"expired at the second", Token(), Token().secret_hash, kT0 + absl::Hours(1), "expired",
       "expired"},
      {"used up", used, used.secret_hash, kT0, "already been used", "used"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.why);
    absl::Status s = CheckJoinToken(row.token, row.hash, row.now);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(s.message()), HasSubstr(row.message));
    EXPECT_STREQ(JoinTokenState(row.token, row.now), row.state);
  }
  // One second before expiry it still works.
  EXPECT_TRUE(CheckJoinToken(ok, ok.secret_hash, kT0 + absl::Hours(1) - absl::Seconds(1)).ok());
}

TEST(EnrollmentRules, HostnamesComeFromTheTokenOrNameANewHost) {
  JoinTokenRecord named = Token();
  named.hostname = "web-1";
  HostRecord existing;
  existing.hostname = "web-1";
  EXPECT_EQ(*EnrollmentHostname(named, "", std::nullopt), "web-1");
  EXPECT_EQ(*EnrollmentHostname(named, "web-1", existing), "web-1") << "re-enrollment";
  EXPECT_EQ(EnrollmentHostname(named, "db-1", std::nullopt).status().code(),
            absl::StatusCode::kPermissionDenied);

  JoinTokenRecord generic = Token();
  EXPECT_EQ(*EnrollmentHostname(generic, "new-1", std::nullopt), "new-1");
  EXPECT_EQ(EnrollmentHostname(generic, "", std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EnrollmentHostname(generic, "bad/name", std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> takeover = EnrollmentHostname(generic, "web-1", existing);
  EXPECT_EQ(takeover.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(takeover.status().message()), HasSubstr("--hostname web-1"));
}

TEST(EnrollmentRules, AScopedOperatorsTokenReenrollsOnlyInsideItsScopeAndNeverRelabels) {
  JoinTokenRecord token = Token();
  token.hostname = "db-7";
  token.labels = {{"team", "payments"}};
  token.creator_scope = {{"team", "payments"}};
  HostRecord outside;
  outside.hostname = "db-7";
  outside.labels = {{"team", "infra"}, {"env", "prod"}};
  absl::Status refused = EnrollmentHostname(token, "", outside).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("outside that scope"));

  HostRecord inside = outside;
  inside.labels = {{"team", "payments"}, {"env", "prod"}};
  ASSERT_TRUE(EnrollmentHostname(token, "", inside).ok());
  EnrollmentRequest req{token.id, token.secret_hash, "", "0123456789abcdef", kT0};
  EXPECT_EQ(EnrolledHost(token, "db-7", inside, req, kT0).labels, inside.labels)
      << "labels stay: they define scopes";
  EXPECT_EQ(EnrolledHost(token, "db-8", std::nullopt, req, kT0).labels, token.labels)
      << "a new host gets the token's labels";

  // An unscoped operator's token re-enrolls and relabels as before.
  token.creator_scope.clear();
  ASSERT_TRUE(EnrollmentHostname(token, "", outside).ok());
  EXPECT_EQ(EnrolledHost(token, "db-7", outside, req, kT0).labels, token.labels);
}

TEST(SecurityEvents, AFloodOfIdenticalRefusalsIsOneCountedEventAndCallerTextIsCut) {
  FakeStore store;
  SecurityEventBuffer buffer(store);
  const absl::Status denied = absl::PermissionDeniedError(std::string(5000, 'x') + "\nforged");
  for (int port = 0; port < 1000; ++port) {
    buffer.AddDenial("unauthenticated:ipv4:10.0.0.5:" + std::to_string(40000 + port),
                     "admin.GetHost.denied", std::string(4 << 20, 'h'), denied, kT0);
  }
  buffer.AddDenial("token:other", "admin.GetHost.denied", "web-1", denied, kT0);
  ASSERT_TRUE(buffer.Flush().ok());
  absl::StatusOr<std::vector<AuditEvent>> events = store.ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  const AuditEvent& flood = (*events)[0];
  EXPECT_LE(flood.target.size(), kMaxHostnameBytes + 8);
  EXPECT_LE(flood.after_json.size(), SecurityEventBuffer::kMaxReasonBytes + 100);
  EXPECT_THAT(flood.after_json, HasSubstr("\"repeated\":1000"));
  EXPECT_EQ(flood.after_json.find('\n'), std::string::npos);
  EXPECT_EQ((*events)[1].actor, "token:other");
}

class HostHandlersTest : public ::testing::Test {
 protected:
  HostHandlersTest()
      : clock_(kT0),
        view_(PolicyRecord{}),
        follower_(store_, view_, clock_),
        ctx_{store_, view_, follower_, clock_, HandlerSettings{}},
        hosts_(ctx_, "sha256:" + std::string(64, 'e')) {
    EXPECT_TRUE(follower_.Load().ok());
  }

  // Enrolls `hostname` through the store with a token made by the handlers.
  void Enroll(const std::string& hostname, const Labels& labels) {
    absl::StatusOr<NewJoinToken> token =
        hosts_.CreateJoinToken("admin", hostname, labels, std::nullopt, 1);
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<SecretTokenParts> parts = ParseSecretToken(kJoinTokenFormat, token->text);
    ASSERT_TRUE(parts.ok());
    EnrollmentRequest req{parts->id, parts->secret_hash, "", "0123456789abcdef",
                          kT0 + absl::Hours(24)};
    absl::StatusOr<EnrollmentResult> r = store_.EnrollHost({"token", clock_.Now()}, req);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(follower_.CatchUpTo(r->change).ok());
  }

  FakeClock clock_;
  FakeStore store_;
  FleetView view_;
  ViewFollower follower_;
  HandlerContext ctx_;
  HostHandlers hosts_;
};

TEST_F(HostHandlersTest, TokensHaveSaneDefaultsAndLimits) {
  absl::StatusOr<NewJoinToken> t = hosts_.CreateJoinToken("admin", "", {}, std::nullopt, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->record.uses_allowed, 1u);
  EXPECT_EQ(t->record.expires_at - t->record.created_at, absl::Hours(1));
  EXPECT_EQ(t->ca_pin, "sha256:" + std::string(64, 'e'));
  EXPECT_EQ(t->text.find(t->record.secret_hash), std::string::npos);

  struct Row {
    const char* why;
    std::string hostname;
    Labels labels;
    std::optional<absl::Duration> ttl;
    uint32_t uses;
    const char* message;
  };
  const Row rows[] = {
      {"ttl zero", "", {}, absl::ZeroDuration(), 1, "--ttl"},
      {"ttl past the maximum", "", {}, kMaxJoinTokenTtl + absl::Seconds(1), 1, "--ttl"},
      {"too many uses", "", {}, std::nullopt, kMaxJoinTokenUses + 1, "--uses"},
      {"a named host used twice", "web-1", {}, std::nullopt, 2, "--uses must be 1"},
      {"a bad hostname", "web_1", {}, std::nullopt, 1, "hostname"},
      {"a bad label", "", {{"env", "pr od"}}, std::nullopt, 1, "label"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.why);
    absl::StatusOr<NewJoinToken> bad =
        hosts_.CreateJoinToken("admin", row.hostname, row.labels, row.ttl, row.uses);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(row.message));
  }
  // At the limits exactly.
  EXPECT_TRUE(hosts_.CreateJoinToken("admin", "", {}, kMaxJoinTokenTtl, kMaxJoinTokenUses).ok());
}

TEST_F(HostHandlersTest, TokensAreListedRevokedOnceAndNeverShowTheirSecret) {
  absl::StatusOr<NewJoinToken> t = hosts_.CreateJoinToken("admin", "", {}, std::nullopt, 1);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(hosts_.RevokeJoinToken("admin", t->record.id).ok());
  absl::Status again = hosts_.RevokeJoinToken("admin", t->record.id);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hosts_.RevokeJoinToken("admin", "ffffffffffffffff").code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<JoinTokenRecord>> list = hosts_.ListJoinTokens();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_STREQ(JoinTokenState(list->front(), clock_.Now()), "revoked");
  // The audit log names the token but never holds its secret or its hash.
  absl::StatusOr<std::vector<AuditEvent>> audit = store_.ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  for (const AuditEvent& e : *audit) {
    EXPECT_EQ(e.after_json.find(t->record.secret_hash), std::string::npos);
    EXPECT_EQ(e.after_json.find(t->text.substr(22)), std::string::npos);
  }
}

TEST_F(HostHandlersTest, LabelsAreSetAndRemovedByAdminsOnly) {
  Enroll("web-1", {{"env", "dev"}, {"team", "a"}});
  absl::StatusOr<uint64_t> change = hosts_.LabelHost("admin", "web-1", {{"env", "prod"}}, {"team"});
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_GT(*change, 0u);
  EXPECT_EQ(view_.FindHost("web-1")->labels, (Labels{{"env", "prod"}}));
  EXPECT_EQ(*hosts_.LabelHost("admin", "web-1", {{"env", "prod"}}, {}), 0u) << "no-op";
  EXPECT_EQ(hosts_.LabelHost("admin", "web-1", {}, {"nope"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hosts_.LabelHost("admin", "web-1", {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hosts_.LabelHost("admin", "db-9", {{"env", "prod"}}, {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(hosts_.LabelHost("admin", "web-1", {{"env", "x y"}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HostHandlersTest, RemovingAHostDropsItFromTheView) {
  Enroll("web-1", {{"env", "prod"}});
  ASSERT_TRUE(view_.FindHost("web-1"));
  EXPECT_EQ(view_.FindHost("web-1")->enrollment_id, "0123456789abcdef");
  ASSERT_TRUE(hosts_.RemoveHost("admin", "web-1").ok());
  EXPECT_FALSE(view_.FindHost("web-1"));
  EXPECT_FALSE(view_.DesiredState("web-1"));
  EXPECT_EQ(hosts_.RemoveHost("admin", "web-1").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace keyfleet::controller
