// Every admin RPC × every kind of caller, against a real controller and PostgreSQL (label
// postgres): no token, a revoked and an expired token, admin, operator, an operator scoped to the
// target's hosts and one scoped elsewhere, auditor, the owner of the target's principal and the
// owner of another. The expected outcome is written here independently of kAdminRpcRules, as the
// issue states it; a call counts as allowed when it gets past authorization (its own answer may
// still be NOT_FOUND or INVALID_ARGUMENT: the requests are built to change little).
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "controller/controller_server.h"
#include "controller/service/admin_auth.h"
#include "controller/store/postgres_store.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "tests/support/admin_token.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

enum Caller {
  kNoToken,
  kRevoked,
  kExpired,
  kAdmin,
  kOperator,
  kScopedIn,   // operator limited to team=payments, where the targets are
  kScopedOut,  // operator limited to team=web
  kAuditor,
  kOwnerP,      // owner of alice, the targets' principal
  kOwnerOther,  // owner of bob
  kCallerCount,
};

const char* CallerName(int c) {
  static const char* kNames[] = {"no token",
                                 "revoked token",
                                 "expired token",
                                 "admin",
                                 "operator",
                                 "operator scoped inside",
                                 "operator scoped outside",
                                 "auditor",
                                 "owner of P",
                                 "owner of another principal"};
  return kNames[c];
}

// Which callers get past authorization; the unauthenticated three never do.
// A=admin O=operator I=scoped inside X=scoped outside U=auditor P=owner of P Q=owner of another.
const std::map<std::string, std::string> kExpected = {
    {"AddPrincipal", "AO"},       {"ListPrincipals", "AOIXUPQ"},  {"DisablePrincipal", "AO"},
    {"AddKeys", "AOP"},           {"ListKeys", "AOIXUPQ"},        {"GetKey", "AOIXUP"},
    {"LabelKey", "AOP"},          {"RemoveKey", "AOP"},           {"RevokeKey", "AO"},
    {"RotateKey", "AOP"},         {"GenerateKey", "AOP"},         {"AddGrant", "AOI"},
    {"ListGrants", "AOIXUPQ"},    {"RemoveGrant", "AOI"},         {"ListHosts", "AOIXU"},
    {"GetHost", "AOIU"},          {"KnownHosts", "AOIXU"},        {"LabelHost", "AOI"},
    {"RemoveHost", "AOI"},        {"CreateHostToken", "AOI"},     {"ListHostTokens", "AOIXU"},
    {"RevokeHostToken", "AOI"},   {"GetPolicy", "AOIXU"},         {"SetPolicy", "A"},
    {"AccessReview", "AOIU"},     {"VerifyAccess", "AOIU"},       {"ComplianceReport", "AOU"},
    {"RotationReport", "AOU"},    {"FleetStatus", "AOIXU"},       {"KeyReach", "AOIXU"},
    {"ListAudit", "AU"},          {"VerifyAudit", "AU"},          {"ExportAudit", "AU"},
    {"RolloutStatus", "AOIXUPQ"}, {"NotifyStatus", "AOU"},        {"NotifyRetry", "AO"},
    {"CreateToken", "A"},         {"IssueAdminCertificate", "A"}, {"ListTokens", "AU"},
    {"RevokeToken", "A"},         {"WhoAmI", "AOIXUPQ"},
};

bool Expected(const std::string& rpc, int caller) {
  static const char kLetters[] = "---AOIXUPQ";
  const std::string& allowed = kExpected.at(rpc);
  return allowed.find(kLetters[caller]) != std::string::npos;
}

class AdminAuthorizationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { postgres_ = new testing::TempPostgres(); }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    database_ = postgres_->Url(postgres_->CreateDatabase());
    ControllerConfig config;
    config.database = database_;
    config.listen = "127.0.0.1:0";
    config.insecure_dev = true;  // in-process channels; tokens work alike over TLS
    config.feed_poll_interval = absl::Seconds(1);
    config.bootstrap_token_file = (dir_.path() / "bootstrap.token").string();
    controller_ = std::make_unique<ControllerServer>(config, clock_);
    ASSERT_TRUE(controller_->Start().ok());
    absl::StatusOr<std::string> bootstrap = testing::ReadTokenFile(config.bootstrap_token_file);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    admin_ = Stub(*bootstrap);
    store_ = std::make_unique<PostgresStore>(PgOptions{database_, 1, absl::Seconds(5)});
  }

  std::unique_ptr<v1::AdminService::Stub> Stub(const std::string& token) {
    return v1::AdminService::NewStub(Channel(token));
  }
  std::shared_ptr<grpc::Channel> Channel(const std::string& token) {
    if (token.empty()) return controller_->InProcessChannel();
    return controller_->InProcessChannel(testing::TokenInterceptors(token));
  }

  std::string CreateToken(const std::string& name, v1::Role role, const std::string& principal,
                          const std::map<std::string, std::string>& scope,
                          absl::Duration expires = absl::Hours(24)) {
    grpc::ClientContext ctx;
    v1::CreateTokenRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_role(role);
    req.mutable_spec()->set_principal(principal);
    for (const auto& [k, v] : scope) (*req.mutable_spec()->mutable_host_scope())[k] = v;
    req.mutable_spec()->mutable_expires()->set_seconds(absl::ToInt64Seconds(expires));
    v1::CreateTokenResponse resp;
    grpc::Status s = admin_->CreateToken(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << name << ": " << s.error_message();
    return resp.token();
  }

  void AddPrincipal(const std::string& name) {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest req;
    req.set_name(name);
    v1::MutationResponse resp;
    grpc::Status s = admin_->AddPrincipal(&ctx, req, &resp);
    ASSERT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  }

  std::string AddKey(const std::string& principal, uint64_t n) {
    grpc::ClientContext ctx;
    v1::AddKeysRequest req;
    req.set_principal(principal);
    req.add_public_keys(testing::SyntheticEd25519Line(n));
    v1::AddKeysResponse resp;
    grpc::Status s = admin_->AddKeys(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) return "";
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.keys_size() == 1 ? resp.keys(0).fingerprint() : "";
  }

  int64_t AddGrant(const std::string& principal, const std::string& team) {
    grpc::ClientContext ctx;
    v1::AddGrantRequest req;
    req.mutable_grant()->set_principal(principal);
    (*req.mutable_grant()->mutable_hosts()->mutable_labels())["team"] = team;
    req.mutable_grant()->set_account("deploy");
    v1::AddGrantResponse resp;
    grpc::Status s = admin_->AddGrant(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return std::stoll(resp.grant().id());
  }

  // In this replica's fleet view (what scopes are checked against).
  bool HostVisible(const std::string& hostname) {
    grpc::ClientContext ctx;
    v1::AccessReviewRequest req;
    req.set_hostname(hostname);
    v1::AccessReviewResponse resp;
    return admin_->AccessReview(&ctx, req, &resp).ok();
  }

  // Registers the host as an agent's hello would, and waits for this replica's view.
  void EnsureHost(const std::string& hostname, const std::string& team) {
    if (HostVisible(hostname)) return;
    ASSERT_TRUE(store_->RegisterHost({"test", absl::Now()}, hostname, {{"team", team}}).ok());
    for (int i = 0; i < 100 && !HostVisible(hostname); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(HostVisible(hostname)) << hostname;
  }

  bool GrantExists(int64_t id) {
    grpc::ClientContext ctx;
    v1::ListGrantsResponse resp;
    EXPECT_TRUE(admin_->ListGrants(&ctx, v1::ListGrantsRequest(), &resp).ok());
    for (const v1::Grant& g : resp.grants()) {
      if (g.id() == std::to_string(id)) return true;
    }
    return false;
  }

  // Puts back what an allowed call may have removed.
  void EnsureFixtures() {
    AddKey("alice", 2);  // removable_key_; ALREADY_EXISTS when still there
    if (!GrantExists(payments_grant_)) payments_grant_ = AddGrant("alice", "payments");
    EnsureHost("pay-gone", "payments");
  }

  grpc::Status Call(const std::string& rpc, const std::string& token);

  static testing::TempPostgres* postgres_;
  testing::ScopedTempDir dir_{"admin-authz"};
  std::string database_;
  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  std::unique_ptr<ControllerServer> controller_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<PostgresStore> store_;
  std::string alice_key_, removable_key_, bob_key_;
  int64_t payments_grant_ = 0;
  std::string payments_join_token_;
};

testing::TempPostgres* AdminAuthorizationTest::postgres_ = nullptr;

// One unary call of /keyfleet.v1.AdminService/RPC with `request`, by name.
grpc::Status GenericCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& rpc,
                         const google::protobuf::Message& request) {
  return testing::GenericUnaryCall(channel, "/keyfleet.v1.AdminService/" + rpc,
                                   request.SerializeAsString());
}

grpc::Status AdminAuthorizationTest::Call(const std::string& rpc, const std::string& token) {
  std::shared_ptr<grpc::Channel> channel = Channel(token);
  if (rpc == "ExportAudit") {  // server streaming
    auto stub = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    auto reader = stub->ExportAudit(&ctx, v1::ExportAuditRequest());
    v1::ExportedAuditEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  }
  const std::string bad_key_line = "ssh-ed25519 not-base64!";
  std::unique_ptr<google::protobuf::Message> req;
  if (rpc == "AddPrincipal") {
    auto r = std::make_unique<v1::AddPrincipalRequest>();
    r->set_name("alice");  // exists: ALREADY_EXISTS when allowed
    req = std::move(r);
  } else if (rpc == "DisablePrincipal") {
    auto r = std::make_unique<v1::DisablePrincipalRequest>();
    r->set_name("nobody");
    req = std::move(r);
  } else if (rpc == "AddKeys") {
    auto r = std::make_unique<v1::AddKeysRequest>();
    r->set_principal("alice");
    r->add_public_keys(bad_key_line);
    req = std::move(r);
  } else if (rpc == "RotateKey") {
    // Authorized callers get past the table and are refused for the (bad) new key: no change.
    auto r = std::make_unique<v1::RotateKeyRequest>();
    r->set_old_fingerprint(alice_key_);
    r->set_public_key("not a key");
    req = std::move(r);
  } else if (rpc == "GenerateKey") {
    // Authorized callers get past the table and are refused for the unknown type: no change.
    auto r = std::make_unique<v1::GenerateKeyRequest>();
    r->set_principal("alice");
    r->set_type("dsa-1024");
    req = std::move(r);
  } else if (rpc == "NotifyRetry") {
    auto r = std::make_unique<v1::NotifyRetryRequest>();
    r->set_id(424242);  // none: NOT_FOUND past the table
    req = std::move(r);
  } else if (rpc == "GetKey" || rpc == "LabelKey" || rpc == "RemoveKey" || rpc == "RevokeKey") {
    const std::string fp = rpc == "RemoveKey"   ? removable_key_
                           : rpc == "RevokeKey" ? "SHA256:nonexistentnonexistentnonexistent000000"
                                                : alice_key_;
    if (rpc == "GetKey") {
      auto r = std::make_unique<v1::GetKeyRequest>();
      r->set_fingerprint(fp);
      req = std::move(r);
    } else if (rpc == "LabelKey") {
      auto r = std::make_unique<v1::LabelKeyRequest>();
      r->set_fingerprint(fp);
      r->set_label("laptop");
      req = std::move(r);
    } else if (rpc == "RemoveKey") {
      auto r = std::make_unique<v1::RemoveKeyRequest>();
      r->set_fingerprint(fp);
      req = std::move(r);
    } else {
      auto r = std::make_unique<v1::RevokeKeyRequest>();
      r->set_fingerprint(fp);
      r->set_reason("test");
      req = std::move(r);
    }
  } else if (rpc == "AddGrant") {
    auto r = std::make_unique<v1::AddGrantRequest>();
    r->mutable_grant()->set_principal("alice");
    (*r->mutable_grant()->mutable_hosts()->mutable_labels())["team"] = "payments";
    r->mutable_grant()->set_account("Not An Account!");  // INVALID_ARGUMENT when allowed
    req = std::move(r);
  } else if (rpc == "RemoveGrant") {
    auto r = std::make_unique<v1::RemoveGrantRequest>();
    r->set_id(std::to_string(payments_grant_));
    req = std::move(r);
  } else if (rpc == "VerifyAccess") {
    auto r = std::make_unique<v1::VerifyAccessRequest>();
    r->set_hostname("pay-1");
    r->set_account("deploy");
    r->set_fingerprint("SHA256:" + std::string(43, 'A'));
    req = std::move(r);
  } else if (rpc == "GetHost" || rpc == "AccessReview") {
    if (rpc == "GetHost") {
      auto r = std::make_unique<v1::GetHostRequest>();
      r->set_hostname("pay-1");
      req = std::move(r);
    } else {
      auto r = std::make_unique<v1::AccessReviewRequest>();
      r->set_hostname("pay-1");
      req = std::move(r);
    }
  } else if (rpc == "LabelHost") {
    auto r = std::make_unique<v1::LabelHostRequest>();
    r->set_hostname("pay-1");
    (*r->mutable_set())["rack"] = "r1";
    req = std::move(r);
  } else if (rpc == "RemoveHost") {
    auto r = std::make_unique<v1::RemoveHostRequest>();
    r->set_hostname("pay-gone");
    req = std::move(r);
  } else if (rpc == "CreateHostToken") {
    auto r = std::make_unique<v1::CreateHostTokenRequest>();
    (*r->mutable_labels())["team"] = "payments";
    req = std::move(r);
  } else if (rpc == "RevokeHostToken") {
    auto r = std::make_unique<v1::RevokeHostTokenRequest>();
    r->set_id(payments_join_token_);
    req = std::move(r);
  } else if (rpc == "SetPolicy") {
    req = std::make_unique<v1::SetPolicyRequest>();  // unset fields keep the policy
  } else if (rpc == "CreateToken" || rpc == "IssueAdminCertificate") {
    v1::CredentialSpec spec;
    spec.set_name("not a valid name!");
    spec.set_role(v1::ROLE_AUDITOR);
    if (rpc == "CreateToken") {
      auto r = std::make_unique<v1::CreateTokenRequest>();
      *r->mutable_spec() = spec;
      req = std::move(r);
    } else {
      auto r = std::make_unique<v1::IssueAdminCertificateRequest>();
      *r->mutable_spec() = spec;
      req = std::move(r);
    }
  } else if (rpc == "RevokeToken") {
    auto r = std::make_unique<v1::RevokeTokenRequest>();
    r->set_name("nobody");
    req = std::move(r);
  } else {
    // List*, GetPolicy, ComplianceReport, FleetStatus, KeyReach, VerifyAudit, RolloutStatus,
    // WhoAmI: the empty request
    // of any of them serializes to nothing.
    req = std::make_unique<v1::ListHostsRequest>();
  }
  return GenericCall(channel, rpc, *req);
}

TEST_F(AdminAuthorizationTest, EveryRpcAllowsExactlyTheRolesTheTableGives) {
  AddPrincipal("alice");
  AddPrincipal("bob");
  alice_key_ = AddKey("alice", 1);
  removable_key_ = AddKey("alice", 2);
  bob_key_ = AddKey("bob", 3);
  EnsureHost("pay-1", "payments");
  EnsureHost("web-1", "web");
  payments_grant_ = AddGrant("alice", "payments");
  AddGrant("alice", "web");
  {
    grpc::ClientContext ctx;
    v1::CreateHostTokenRequest req;
    (*req.mutable_labels())["team"] = "payments";
    v1::CreateHostTokenResponse resp;
    ASSERT_TRUE(admin_->CreateHostToken(&ctx, req, &resp).ok());
    payments_join_token_ = resp.info().id();
  }
  EnsureFixtures();

  std::string tokens[kCallerCount];
  tokens[kNoToken] = "";
  tokens[kRevoked] = CreateToken("revoked-admin", v1::ROLE_ADMIN, "", {});
  tokens[kExpired] = CreateToken("expiring-admin", v1::ROLE_ADMIN, "", {}, absl::Minutes(5));
  tokens[kAdmin] = CreateToken("adm", v1::ROLE_ADMIN, "", {});
  tokens[kOperator] = CreateToken("op", v1::ROLE_OPERATOR, "", {});
  tokens[kScopedIn] = CreateToken("op-payments", v1::ROLE_OPERATOR, "", {{"team", "payments"}});
  tokens[kScopedOut] = CreateToken("op-web", v1::ROLE_OPERATOR, "", {{"team", "web"}});
  tokens[kAuditor] = CreateToken("aud", v1::ROLE_AUDITOR, "", {});
  tokens[kOwnerP] = CreateToken("alice-self", v1::ROLE_OWNER, "alice", {});
  tokens[kOwnerOther] = CreateToken("bob-self", v1::ROLE_OWNER, "bob", {});
  {
    grpc::ClientContext ctx;
    v1::RevokeTokenRequest req;
    req.set_name("revoked-admin");
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->RevokeToken(&ctx, req, &resp).ok());
  }
  clock_.Advance(absl::Minutes(10));  // expiring-admin is now expired; the others last a day

  int checked = 0;
  for (const auto& [rpc, allowed] : kExpected) {
    for (int caller = 0; caller < kCallerCount; ++caller) {
      SCOPED_TRACE(absl::StrCat(rpc, " as ", CallerName(caller)));
      grpc::Status s = Call(rpc, tokens[caller]);
      if (caller <= kExpired) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
      } else if (Expected(rpc, caller)) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      }
      ++checked;
      EnsureFixtures();
    }
  }
  EXPECT_EQ(checked, static_cast<int>(kExpected.size()) * kCallerCount);
}

TEST_F(AdminAuthorizationTest, TheTableAndThisTestCoverExactlyTheServicesMethods) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "keyfleet.v1.AdminService");
  ASSERT_NE(service, nullptr);
  std::set<std::string> methods;
  for (int i = 0; i < service->method_count(); ++i) methods.insert(service->method(i)->name());
  std::set<std::string> table, expected;
  for (const AdminRpcRule& rule : kAdminRpcRules) table.insert(rule.rpc);
  for (const auto& [rpc, allowed] : kExpected) expected.insert(rpc);
  EXPECT_EQ(table, methods);
  EXPECT_EQ(expected, methods);
}

TEST_F(AdminAuthorizationTest, RefusalsSayWhatWouldBeNeededAndAreAudited) {
  AddPrincipal("alice");
  AddPrincipal("bob");
  EnsureHost("pay-1", "payments");
  const std::string auditor = CreateToken("aud", v1::ROLE_AUDITOR, "", {});
  const std::string scoped =
      CreateToken("op-payments", v1::ROLE_OPERATOR, "", {{"team", "payments"}});
  const std::string owner = CreateToken("alice-self", v1::ROLE_OWNER, "alice", {});

  v1::AddPrincipalRequest add;
  add.set_name("carol");
  grpc::Status s = GenericCall(Channel(auditor), "AddPrincipal", add);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("AddPrincipal needs role admin or operator"));
  EXPECT_THAT(s.error_message(), HasSubstr("token \"aud\" has role auditor"));

  // A scoped operator may not widen a grant beyond its scope, nor move hosts between scopes.
  v1::AddGrantRequest grant;
  grant.mutable_grant()->set_principal("alice");
  (*grant.mutable_grant()->mutable_hosts()->mutable_labels())["env"] = "prod";
  grant.mutable_grant()->set_account("deploy");
  s = GenericCall(Channel(scoped), "AddGrant", grant);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("limited to hosts team=payments"));
  EXPECT_THAT(s.error_message(), HasSubstr("does not require team=payments"));
  v1::LabelHostRequest relabel;
  relabel.set_hostname("pay-1");
  relabel.add_remove("team");
  s = GenericCall(Channel(scoped), "LabelHost", relabel);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("label \"team\" defines a host scope"));

  // Nor hand out, through a join token, a label that defines another scope.
  CreateToken("op-prod", v1::ROLE_OPERATOR, "", {{"env", "prod"}});
  v1::CreateHostTokenRequest join;
  (*join.mutable_labels())["team"] = "payments";
  (*join.mutable_labels())["env"] = "prod";
  s = GenericCall(Channel(scoped), "CreateHostToken", join);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("label \"env\" defines a host scope"));

  // An owner acts for its principal only.
  v1::AddKeysRequest keys;
  keys.set_principal("bob");
  keys.add_public_keys(testing::SyntheticEd25519Line(7));
  s = GenericCall(Channel(owner), "AddKeys", keys);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("owner of principal \"alice\" only"));

  // No token at all says how to authenticate.
  s = GenericCall(Channel(""), "ListPrincipals", v1::ListPrincipalsRequest());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("--token"));

  // Each refusal reaches the audit log with the verified actor (written off the request path).
  std::set<std::string> seen;
  auto unauthenticated_seen = [&] {
    return std::any_of(seen.begin(), seen.end(), [](const std::string& x) {
      return x.rfind("admin.ListPrincipals.denied unauthenticated:", 0) == 0;
    });
  };
  for (int i = 0; i < 100 && !unauthenticated_seen(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    grpc::ClientContext ctx;
    v1::ListAuditResponse resp;
    ASSERT_TRUE(admin_->ListAudit(&ctx, v1::ListAuditRequest(), &resp).ok());
    seen.clear();
    for (const v1::AuditEvent& e : resp.events()) seen.insert(e.action() + " " + e.actor());
  }
  EXPECT_EQ(seen.count("admin.AddPrincipal.denied token:aud"), 1u);
  EXPECT_EQ(seen.count("admin.AddGrant.denied token:op-payments"), 1u);
  EXPECT_EQ(seen.count("admin.LabelHost.denied token:op-payments"), 1u);
  EXPECT_EQ(seen.count("admin.CreateHostToken.denied token:op-payments"), 1u);
  EXPECT_EQ(seen.count("admin.AddKeys.denied token:alice-self"), 1u);
  EXPECT_TRUE(unauthenticated_seen());
  // And the actor of every change is a verified credential.
  for (const std::string& x : seen) EXPECT_THAT(x, ::testing::Not(HasSubstr("unverified")));
}

TEST_F(AdminAuthorizationTest, OwnersAndScopedOperatorsSeeOnlyTheirPart) {
  AddPrincipal("alice");
  AddPrincipal("bob");
  AddKey("alice", 11);
  AddKey("bob", 12);
  EnsureHost("pay-1", "payments");
  EnsureHost("web-1", "web");
  AddGrant("alice", "payments");
  AddGrant("bob", "web");
  auto owner = Stub(CreateToken("alice-self", v1::ROLE_OWNER, "alice", {}));
  auto scoped = Stub(CreateToken("op-payments", v1::ROLE_OPERATOR, "", {{"team", "payments"}}));

  grpc::ClientContext c1;
  v1::ListKeysResponse keys;
  ASSERT_TRUE(owner->ListKeys(&c1, v1::ListKeysRequest(), &keys).ok());
  ASSERT_EQ(keys.keys_size(), 1);
  EXPECT_EQ(keys.keys(0).principal(), "alice");
  grpc::ClientContext c2;
  v1::ListGrantsResponse grants;
  ASSERT_TRUE(owner->ListGrants(&c2, v1::ListGrantsRequest(), &grants).ok());
  ASSERT_EQ(grants.grants_size(), 1);
  EXPECT_EQ(grants.grants(0).principal(), "alice");
  grpc::ClientContext c3;
  v1::ListPrincipalsResponse principals;
  ASSERT_TRUE(owner->ListPrincipals(&c3, v1::ListPrincipalsRequest(), &principals).ok());
  ASSERT_EQ(principals.principals_size(), 1);

  grpc::ClientContext c4;
  v1::ListHostsResponse hosts;
  ASSERT_TRUE(scoped->ListHosts(&c4, v1::ListHostsRequest(), &hosts).ok());
  ASSERT_EQ(hosts.hosts_size(), 1);
  EXPECT_EQ(hosts.hosts(0).hostname(), "pay-1");
  grpc::ClientContext c5;
  ASSERT_TRUE(scoped->ListGrants(&c5, v1::ListGrantsRequest(), &grants).ok());
  ASSERT_EQ(grants.grants_size(), 1);
  EXPECT_EQ(grants.grants(0).principal(), "alice");
  // known_hosts of the scope's hosts only, even when the selector asks for every host.
  grpc::ClientContext c6;
  v1::KnownHostsRequest known;
  known.mutable_hosts()->set_hostname_glob("*");
  v1::KnownHostsResponse known_hosts;
  ASSERT_TRUE(scoped->KnownHosts(&c6, known, &known_hosts).ok());
  ASSERT_EQ(known_hosts.hosts_size(), 1);
  EXPECT_EQ(known_hosts.hosts(0).hostname(), "pay-1");
}

}  // namespace
}  // namespace keyfleet::controller
