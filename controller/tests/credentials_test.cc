// API credentials without a network: what a credential may be (table of good and bad specs),
// expiry limits, the API token's text form, authenticating a token (unknown, forged, revoked,
// expired), and the bootstrap token (made once, from or into a file) over a FakeStore.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/clock.h"
#include "controller/credential_rules.h"
#include "controller/fleet_view.h"
#include "controller/handlers/credential_handlers.h"
#include "controller/secret_token.h"
#include "controller/tests/fake_store.h"
#include "controller/view_follower.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

TEST(CredentialRules, SpecsAreCheckedWithMessagesNamingTheFlag) {
  struct Row {
    const char* why;
    std::string name;
    Role role;
    std::string principal;
    Labels scope;
    const char* error;  // "" : valid
  };
  const Row rows[] = {
      {"admin", "ci-deploy", Role::kAdmin, "", {}, ""},
      {"an e-mail as name", "alice@example.com", Role::kAuditor, "", {}, ""},
      {"owner", "alice-self", Role::kOwner, "alice", {}, ""},
      {"scoped operator", "pay-ops", Role::kOperator, "", {{"team", "payments"}}, ""},
      {"empty name", "", Role::kAdmin, "", {}, "name"},
      {"name with a space", "a b", Role::kAdmin, "", {}, "name"},
      {"name too long", std::string(65, 'a'), Role::kAdmin, "", {}, "name"},
      {"owner without principal", "o", Role::kOwner, "", {}, "--principal"},
      {"principal on an admin", "a", Role::kAdmin, "alice", {}, "--principal applies"},
      {"scoped admin", "a", Role::kAdmin, "", {{"team", "x"}}, "cannot be scoped"},
      {"scoped owner", "o", Role::kOwner, "alice", {{"team", "x"}}, "cannot be scoped"},
      {"scoped auditor", "a", Role::kAuditor, "", {{"team", "x"}}, "cannot be scoped"},
      {"bad scope label", "o", Role::kOperator, "", {{"Bad Key", "x"}}, "label"},
      {"a name like an id", "0123456789abcdef", Role::kAdmin, "", {}, "looks like a credential id"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.why);
    ApiCredentialRecord c;
    c.name = row.name;
    c.role = row.role;
    c.principal = row.principal;
    c.host_scope = row.scope;
    absl::Status s = ValidateCredentialSpec(c);
    if (std::string(row.error).empty()) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), HasSubstr(row.error));
    }
  }
}

TEST(CredentialRules, ExpiryDefaultsTo90DaysWithinLimits) {
  EXPECT_EQ(**CredentialExpiry(kT0, std::nullopt, false), kT0 + absl::Hours(24 * 90));
  EXPECT_FALSE(CredentialExpiry(kT0, std::nullopt, true)->has_value());
  EXPECT_EQ(**CredentialExpiry(kT0, kMinCredentialLifetime, false), kT0 + kMinCredentialLifetime);
  EXPECT_EQ(CredentialExpiry(kT0, kMinCredentialLifetime - absl::Seconds(1), false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CredentialExpiry(kT0, kMaxCredentialLifetime + absl::Seconds(1), false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CredentialExpiry(kT0, absl::Hours(1), true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ApiToken, TheFormIsStrictAndNotAJoinToken) {
  absl::StatusOr<SecretTokenParts> t = GenerateSecretToken(kApiTokenFormat);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->text.rfind("kfat_", 0), 0u);
  EXPECT_TRUE(ParseSecretToken(kApiTokenFormat, t->text).ok());
  absl::Status as_join = ParseSecretToken(kJoinTokenFormat, t->text).status();
  EXPECT_EQ(as_join.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(as_join.message()), HasSubstr("host token create"));
  for (const std::string& bad :
       {std::string(""), t->text + "\n", " " + t->text, t->text.substr(0, t->text.size() - 1),
        "KFAT_" + t->text.substr(5), t->text.substr(0, 10) + "G" + t->text.substr(11)}) {
    absl::Status s = ParseSecretToken(kApiTokenFormat, bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("malformed API token"));
  }
  EXPECT_TRUE(SecretHashEquals("abc", "abc"));
  EXPECT_FALSE(SecretHashEquals("abc", "abd"));
  EXPECT_FALSE(SecretHashEquals("abc", "abcd"));
}

class CredentialHandlersTest : public ::testing::Test {
 protected:
  CredentialHandlersTest()
      : clock_(kT0),
        view_(PolicyRecord{}),
        follower_(store_, view_, clock_),
        ctx_{store_, view_, follower_, clock_, HandlerSettings{}},
        credentials_(ctx_, nullptr) {
    EXPECT_TRUE(follower_.Load().ok());
  }

  CredentialSpec Spec(const std::string& name, Role role) {
    CredentialSpec spec;
    spec.name = name;
    spec.role = role;
    return spec;
  }

  FakeClock clock_;
  FakeStore store_;
  FleetView view_;
  ViewFollower follower_;
  HandlerContext ctx_;
  CredentialHandlers credentials_;
  testing::ScopedTempDir dir_{"credentials-test"};
};

TEST_F(CredentialHandlersTest, ATokenAuthenticatesUntilRevokedOrExpired) {
  absl::StatusOr<NewApiToken> t =
      credentials_.CreateToken("token:bootstrap", Spec("ci", Role::kOperator));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->text.find(t->record.secret_hash), std::string::npos);
  absl::StatusOr<ApiCredentialRecord> who = credentials_.AuthenticateToken(t->text);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->name, "ci");
  EXPECT_EQ(CredentialActor(*who), "token:ci");

  // The same id with another secret, and an unknown id, get one message: no oracle.
  absl::StatusOr<SecretTokenParts> other = GenerateSecretToken(kApiTokenFormat);
  const std::string forged = "kfat_" + t->record.id + other->text.substr(21);
  absl::Status f = credentials_.AuthenticateToken(forged).status();
  absl::Status u = credentials_.AuthenticateToken(other->text).status();
  EXPECT_EQ(f.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(f.message(), u.message());

  // The name is taken while the token lives.
  EXPECT_EQ(credentials_.CreateToken("x", Spec("ci", Role::kAuditor)).status().code(),
            absl::StatusCode::kAlreadyExists);

  clock_.Advance(absl::Hours(24 * 90));
  absl::Status expired = credentials_.AuthenticateToken(t->text).status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(expired.message()), HasSubstr("expired"));

  ASSERT_TRUE(credentials_.Revoke("token:bootstrap", "ci").ok());
  absl::Status revoked = credentials_.AuthenticateToken(t->text).status();
  EXPECT_THAT(std::string(revoked.message()), HasSubstr("revoked"));
  // Revoked, the name is free again; revoking twice by id is refused.
  EXPECT_TRUE(credentials_.CreateToken("x", Spec("ci", Role::kAuditor)).ok());
  EXPECT_EQ(credentials_.Revoke("x", t->record.id).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(credentials_.Revoke("x", "nobody").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CredentialHandlersTest, AnOwnerNeedsAnExistingPrincipal) {
  CredentialSpec spec = Spec("alice-self", Role::kOwner);
  spec.principal = "alice";
  absl::Status s = credentials_.CreateToken("a", spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("principal \"alice\""));
}

TEST_F(CredentialHandlersTest, CertificatesNeedACaAndAnExpiry) {
  CredentialSpec spec = Spec("alice", Role::kAdmin);
  EXPECT_EQ(credentials_.IssueCertificate("a", spec, "csr").status().code(),
            absl::StatusCode::kFailedPrecondition);  // no CA: --insecure-dev
}

TEST_F(CredentialHandlersTest, TheBootstrapTokenIsMadeOnceAndNeverAgain) {
  absl::StatusOr<std::optional<std::string>> first = credentials_.EnsureBootstrapToken("");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  absl::StatusOr<ApiCredentialRecord> who = credentials_.AuthenticateToken(**first);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->role, Role::kAdmin);
  EXPECT_FALSE(who->expires_at.has_value());

  absl::StatusOr<std::optional<std::string>> again = credentials_.EnsureBootstrapToken("");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());  // printed once only

  // The last usable admin credential cannot be revoked: nobody could manage tokens again.
  absl::Status last = credentials_.Revoke("a", "bootstrap").status();
  EXPECT_EQ(last.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(last.message()), HasSubstr("last usable admin"));
  ASSERT_TRUE(credentials_.CreateToken("a", Spec("named-admin", Role::kAdmin)).ok());
  ASSERT_TRUE(credentials_.Revoke("a", "bootstrap").ok());
  const std::string file = dir_.path().string() + "/bootstrap.token";
  absl::StatusOr<std::optional<std::string>> after = credentials_.EnsureBootstrapToken(file);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
  EXPECT_FALSE(std::filesystem::exists(file));  // nothing new after a revocation
}

TEST_F(CredentialHandlersTest, ABootstrapTokenFromTheEnvironmentIsRegisteredAsItIs) {
  absl::StatusOr<SecretTokenParts> mine = GenerateSecretToken(kApiTokenFormat);
  const std::string unwritable = "/nonexistent-dir/bootstrap.token";
  absl::StatusOr<std::optional<std::string>> r =
      credentials_.EnsureBootstrapToken(unwritable, mine->text + "\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(credentials_.AuthenticateToken(mine->text).ok());
  // A restart needs neither the token nor the file's directory any more.
  EXPECT_TRUE(credentials_.EnsureBootstrapToken(unwritable).ok());
  EXPECT_EQ(credentials_.EnsureBootstrapToken("", "garbage").status().code(),
            absl::StatusCode::kOk);  // made already: nothing is read
}

TEST_F(CredentialHandlersTest, AMalformedBootstrapTokenIsRefused) {
  absl::Status s = credentials_.EnsureBootstrapToken("", "kfat_nothex").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("KEYFLEET_BOOTSTRAP_TOKEN"));
}

TEST_F(CredentialHandlersTest, TheBootstrapTokenGoesToOrComesFromAFile) {
  const std::string file = dir_.path().string() + "/bootstrap.token";
  absl::StatusOr<std::optional<std::string>> made = credentials_.EnsureBootstrapToken(file);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE(made->has_value());  // written, not printed
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(file);
  std::string token;
  in >> token;
  EXPECT_TRUE(credentials_.AuthenticateToken(token).ok());
}

TEST_F(CredentialHandlersTest, AMountedBootstrapTokenIsRegisteredAsItIs) {
  absl::StatusOr<SecretTokenParts> mine = GenerateSecretToken(kApiTokenFormat);
  const std::string file = dir_.path().string() + "/mounted.token";
  {
    std::ofstream out(file);
    out << mine->text << "\n";
  }
  ASSERT_EQ(chmod(file.c_str(), 0400), 0);
  ASSERT_TRUE(credentials_.EnsureBootstrapToken(file).ok());
  EXPECT_TRUE(credentials_.AuthenticateToken(mine->text).ok());

  // A readable-by-others or malformed file is refused, saying why.
  const std::string loose = dir_.path().string() + "/loose.token";
  {
    std::ofstream out(loose);
    out << "not-a-token\n";
  }
  ASSERT_EQ(chmod(loose.c_str(), 0644), 0);
  FakeStore fresh_store;
  FleetView fresh_view{PolicyRecord{}};
  ViewFollower fresh_follower(fresh_store, fresh_view, clock_);
  HandlerContext fresh_ctx{fresh_store, fresh_view, fresh_follower, clock_, HandlerSettings{}};
  CredentialHandlers fresh(fresh_ctx, nullptr);
  absl::Status s = fresh.EnsureBootstrapToken(loose).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("chmod"));
  ASSERT_EQ(chmod(loose.c_str(), 0600), 0);
  s = fresh.EnsureBootstrapToken(loose).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("bootstrap-token"));
}

}  // namespace
}  // namespace keyfleet::controller
