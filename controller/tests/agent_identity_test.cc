// Agent identity over real TLS, against a real PostgreSQL (labels: postgres, tls): enrollment with
// join tokens, the host identity taken only from the verified client certificate, and every way
// of being refused. Each refusal answers UNAUTHENTICATED or PERMISSION_DENIED, changes nothing,
// and lands in the audit log.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "common/clock.h"
#include "common/tls/x509.h"
#include "controller/ca/certificate_authority.h"
#include "controller/controller_server.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "tests/support/admin_token.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_identity.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;
using testing::TestHostCredentials;

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// What one Watch attempt got: the first desired state (if any), and how the stream ended.
struct WatchOutcome {
  std::optional<v1::DesiredState> state;
  grpc::Status status;
};

// Opens a Watch on `channel`, sends `hello`, optionally a report after the first state, and
// reads until the stream ends or `seconds` pass (then it is cancelled).
WatchOutcome WatchOnce(const std::shared_ptr<grpc::Channel>& channel, const v1::WatchRequest& hello,
                       const v1::ReportRequest* report = nullptr, int seconds = 3) {
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(In(seconds));
  auto stream = stub->Watch(&ctx);
  v1::AgentMessage msg;
  *msg.mutable_hello() = hello;
  WatchOutcome out;
  if (stream->Write(msg)) {
    v1::WatchResponse resp;
    while (stream->Read(&resp)) {
      if (!resp.has_desired_state()) continue;
      if (!out.state) {
        out.state = resp.desired_state();
        if (report == nullptr) {
          ctx.TryCancel();  // got what we came for; a refusal would have come instead
          break;
        }
        v1::AgentMessage r;
        *r.mutable_report() = *report;
        stream->Write(r);
      }
    }
  }
  out.status = stream->Finish();
  return out;
}

v1::WatchRequest Hello(const std::string& hostname = "") {
  v1::WatchRequest hello;
  hello.set_hostname(hostname);
  return hello;
}

size_t KeyCount(const v1::DesiredState& s, const std::string& account) {
  for (const auto& a : s.accounts()) {
    if (a.account() == account) return a.keys_size();
  }
  return 0;
}

class AgentIdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { postgres_ = new testing::TempPostgres(); }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    database_ = postgres_->Url(postgres_->CreateDatabase());
    ca_dir_ = (dir_.path() / "ca").string();
    StartController();
  }

  void StartController() {
    ControllerConfig config;
    config.database = database_;
    config.listen = "127.0.0.1:0";
    config.ca_dir = ca_dir_;
    config.tls_names = {"127.0.0.1"};
    config.heartbeat_interval = absl::Seconds(1);
    config.feed_poll_interval = absl::Seconds(1);
    config.bootstrap_token_file = (dir_.path() / "bootstrap.token").string();
    controller_ = std::make_unique<ControllerServer>(config, clock_);
    absl::Status started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started;
    address_ = "127.0.0.1:" + std::to_string(controller_->port());
    ca_pem_ = controller_->ca()->trust_bundle_pem();
    absl::StatusOr<std::string> token = testing::ReadTokenFile(config.bootstrap_token_file);
    ASSERT_TRUE(token.ok()) << token.status();
    admin_ = v1::AdminService::NewStub(testing::TokenTlsChannel(address_, ca_pem_, *token));
  }

  // Enrolls `hostname` with a fresh token carrying `labels`.
  TestHostCredentials Enroll(const std::string& hostname,
                             const std::map<std::string, std::string>& labels) {
    absl::StatusOr<std::string> token = testing::CreateJoinToken(*admin_, hostname, labels);
    EXPECT_TRUE(token.ok()) << token.status();
    absl::StatusOr<TestHostCredentials> creds =
        testing::EnrollTestHost(address_, ca_pem_, token.value_or(""), "");
    EXPECT_TRUE(creds.ok()) << creds.status();
    return creds.value_or(TestHostCredentials());
  }

  std::shared_ptr<grpc::Channel> As(const TestHostCredentials& creds) {
    return testing::DedicatedTlsChannel(address_, ca_pem_, creds);
  }

  // alice's key granted to `deploy` on env=prod hosts.
  void GrantProd() {
    grpc::ClientContext c1;
    v1::AddPrincipalRequest p;
    p.set_name("alice");
    v1::MutationResponse m;
    ASSERT_TRUE(admin_->AddPrincipal(&c1, p, &m).ok());
    grpc::ClientContext c2;
    v1::AddKeysRequest k;
    k.set_principal("alice");
    k.add_public_keys(testing::SyntheticEd25519Line(1));
    v1::AddKeysResponse kr;
    ASSERT_TRUE(admin_->AddKeys(&c2, k, &kr).ok());
    grpc::ClientContext c3;
    v1::AddGrantRequest g;
    g.mutable_grant()->set_principal("alice");
    (*g.mutable_grant()->mutable_hosts()->mutable_labels())["env"] = "prod";
    g.mutable_grant()->set_account("deploy");
    v1::AddGrantResponse gr;
    ASSERT_TRUE(admin_->AddGrant(&c3, g, &gr).ok());
  }

  void RemoveHost(const std::string& hostname) {
    grpc::ClientContext ctx;
    v1::RemoveHostRequest req;
    req.set_hostname(hostname);
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->RemoveHost(&ctx, req, &resp).ok());
  }

  // Removes `hostname` while `stream` (its Watch, past its first state) is open; expects the
  // stream to end UNAUTHENTICATED within `within`.
  template <typename Stream>
  void RemovingEndsTheStream(const std::string& hostname, Stream& stream, absl::Duration within) {
    const absl::Time removed_at = absl::Now();
    ASSERT_NO_FATAL_FAILURE(RemoveHost(hostname));
    v1::WatchResponse resp;
    while (stream.Read(&resp)) {
    }
    grpc::Status ended = stream.Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
    EXPECT_LT(absl::Now() - removed_at, within) << "closed at once, not at expiry";
  }

  std::vector<v1::Host> Hosts() {
    grpc::ClientContext ctx;
    v1::ListHostsResponse resp;
    EXPECT_TRUE(admin_->ListHosts(&ctx, v1::ListHostsRequest(), &resp).ok());
    return {resp.hosts().begin(), resp.hosts().end()};
  }

  std::optional<v1::Host> Host(const std::string& name) {
    for (const v1::Host& h : Hosts()) {
      if (h.hostname() == name) return h;
    }
    return std::nullopt;
  }

  // Waits (up to 10 s: denials are written in batches) for an audit event with `action`, an
  // actor starting with `actor_prefix`, and `detail` in its after_json (the refusal's reason)
  // or target, with a sequence above `after`. Returns its sequence, or 0.
  uint64_t Audited(const std::string& action, const std::string& actor_prefix,
                   const std::string& detail, uint64_t after = 0) {
    for (int i = 0; i < 100; ++i) {
      grpc::ClientContext ctx;
      v1::ListAuditResponse resp;
      EXPECT_TRUE(admin_->ListAudit(&ctx, v1::ListAuditRequest(), &resp).ok());
      for (const auto& e : resp.events()) {
        if (e.sequence() > after && e.action() == action && e.actor().rfind(actor_prefix, 0) == 0 &&
            (e.after_json().find(detail) != std::string::npos ||
             e.target().find(detail) != std::string::npos)) {
          return e.sequence();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }

  uint64_t LastAuditSequence() {
    grpc::ClientContext ctx;
    v1::ListAuditResponse resp;
    EXPECT_TRUE(admin_->ListAudit(&ctx, v1::ListAuditRequest(), &resp).ok());
    return resp.events().empty() ? 0 : resp.events().rbegin()->sequence();
  }

  static testing::TempPostgres* postgres_;
  testing::ScopedTempDir dir_{"kf-identity"};
  std::string database_;
  std::string ca_dir_;
  SystemClock clock_;
  std::unique_ptr<ControllerServer> controller_;
  std::string address_;
  std::string ca_pem_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

testing::TempPostgres* AgentIdentityTest::postgres_ = nullptr;

TEST_F(AgentIdentityTest, AnEnrolledHostWatchesItsOwnStateOverMutualTls) {
  GrantProd();
  TestHostCredentials web = Enroll("web-1", {{"env", "prod"}});
  ASSERT_EQ(web.hostname, "web-1");
  std::optional<v1::Host> host = Host("web-1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->labels().at("env"), "prod") << "labels come from the token";
  EXPECT_TRUE(host->has_enrolled_at());
  EXPECT_TRUE(host->has_certificate_expires());

  WatchOutcome watched = WatchOnce(As(web), Hello());
  ASSERT_TRUE(watched.state) << watched.status.error_message();
  EXPECT_EQ(watched.state->hostname(), "web-1");
  EXPECT_EQ(KeyCount(*watched.state, "deploy"), 1u);
  EXPECT_TRUE(Audited("host.enroll", "join-token:", "web-1"));
}

// The table the issue asks for: every way an agent call can be refused.
TEST_F(AgentIdentityTest, EveryForgedOrStaleIdentityIsRefusedChangesNothingAndIsAudited) {
  GrantProd();
  TestHostCredentials web = Enroll("web-1", {{"env", "prod"}});
  TestHostCredentials db = Enroll("db-1", {{"env", "prod"}});
  TestHostCredentials gone = Enroll("gone-1", {{"env", "prod"}});
  ASSERT_NO_FATAL_FAILURE(RemoveHost("gone-1"));

  // A certificate from another CA, for a name that exists here.
  testing::ScopedTempDir other_dir("kf-other-ca");
  ASSERT_TRUE(CertificateAuthority::Create((other_dir.path() / "ca").string(), absl::Now()).ok());
  auto other = CertificateAuthority::Load((other_dir.path() / "ca").string());
  ASSERT_TRUE(other.ok()) << other.status();
  TestHostCredentials foreign;
  foreign.key_pem = *tls::GenerateKeyPem();
  foreign.cert_pem =
      *(*other)->SignHostCertificate(*tls::MakeCsrPem(foreign.key_pem, "x"), "web-1",
                                     "0123456789abcdef", absl::Now(), absl::Hours(1));

  // An expired certificate from the right CA, naming web-1's current enrollment: only time is
  // wrong with it.
  auto own = CertificateAuthority::Load(ca_dir_);
  ASSERT_TRUE(own.ok()) << own.status();
  absl::StatusOr<tls::CertificateInfo> web_info = tls::InspectCertificate(web.cert_pem);
  ASSERT_TRUE(web_info.ok());
  std::string web_enrollment = web_info->uris.at(0).substr(web_info->uris.at(0).rfind('/') + 1);
  TestHostCredentials expired;
  expired.key_pem = *tls::GenerateKeyPem();
  expired.cert_pem =
      *(*own)->SignHostCertificate(*tls::MakeCsrPem(expired.key_pem, "x"), "web-1", web_enrollment,
                                   absl::Now() - absl::Hours(2), absl::Hours(1));

  v1::ReportRequest report_as_db;
  report_as_db.set_hostname("db-1");
  report_as_db.set_applied_generation(999999);
  report_as_db.set_applied_digest("forged");
  v1::WatchRequest labelled = Hello();
  (*labelled.mutable_labels())["env"] = "dev";

  struct Case {
    const char* name;
    std::function<std::shared_ptr<grpc::Channel>()> channel;
    v1::WatchRequest hello;
    const v1::ReportRequest* report;
    grpc::StatusCode code;
    const char* message;
    const char* audit_action;
    const char* audit_actor;
  };
  const Case cases[] = {
      {"no client certificate", [&] { return testing::TlsChannel(address_, ca_pem_); }, Hello(),
       nullptr, grpc::StatusCode::UNAUTHENTICATED, "no client certificate", "agent.watch.denied",
       "unauthenticated:"},
      {"a certificate from another CA", [&] { return As(foreign); }, Hello(), nullptr,
       grpc::StatusCode::UNAUTHENTICATED, "not issued by a trusted keyfleet CA",
       "agent.watch.denied", "unauthenticated:"},
      {"an expired certificate", [&] { return As(expired); }, Hello(), nullptr,
       grpc::StatusCode::UNAUTHENTICATED, "expired", "agent.watch.denied", "unauthenticated:"},
      {"a removed host's certificate", [&] { return As(gone); }, Hello(), nullptr,
       grpc::StatusCode::UNAUTHENTICATED, "removed", "agent.watch.denied", "host:gone-1"},
      {"host A asking for host B", [&] { return As(web); }, Hello("db-1"), nullptr,
       grpc::StatusCode::PERMISSION_DENIED, "cannot watch", "agent.watch.denied", "host:web-1"},
      {"an agent setting its own labels", [&] { return As(web); }, labelled, nullptr,
       grpc::StatusCode::PERMISSION_DENIED, "labels", "agent.watch.denied", "host:web-1"},
      {"host A reporting as host B", [&] { return As(web); }, Hello(), &report_as_db,
       grpc::StatusCode::PERMISSION_DENIED, "only for its own host", "agent.report.denied",
       "host:web-1"},
  };
  const std::vector<v1::Host> before = Hosts();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t audited_before = LastAuditSequence();
    WatchOutcome out = WatchOnce(c.channel(), c.hello, c.report);
    EXPECT_EQ(out.status.error_code(), c.code) << out.status.error_message();
    EXPECT_THAT(out.status.error_message(), HasSubstr(c.message));
    if (c.report == nullptr) {
      EXPECT_FALSE(out.state) << "a refused caller gets no desired state";
    }
    // This refusal, with its reason, under the verified identity (or the peer's address).
    EXPECT_TRUE(Audited(c.audit_action, c.audit_actor, c.message, audited_before));
  }
  // Nothing changed: same hosts, same labels, db-1 not "converged" by web-1's forged report.
  const std::vector<v1::Host> after = Hosts();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].hostname(), after[i].hostname());
    EXPECT_EQ(before[i].labels().at("env"), after[i].labels().at("env"));
    EXPECT_EQ(before[i].applied_generation(), after[i].applied_generation());
    EXPECT_EQ(before[i].applied_digest(), after[i].applied_digest());
  }
  // The legitimate host still works after all that.
  EXPECT_TRUE(WatchOnce(As(db), Hello()).state);
}

TEST_F(AgentIdentityTest, BadJoinTokensAndRequestsAreRefusedWithoutConsumingAnything) {
  absl::StatusOr<std::string> token = testing::CreateJoinToken(*admin_, "", {{"env", "prod"}}, 1);
  ASSERT_TRUE(token.ok());
  absl::StatusOr<std::string> revoked = testing::CreateJoinToken(*admin_, "", {}, 1);
  ASSERT_TRUE(revoked.ok());
  {
    grpc::ClientContext ctx;
    v1::ListHostTokensResponse list;
    ASSERT_TRUE(admin_->ListHostTokens(&ctx, v1::ListHostTokensRequest(), &list).ok());
    std::string id = revoked->substr(5, 16);
    grpc::ClientContext rc;
    v1::RevokeHostTokenRequest req;
    req.set_id(id);
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->RevokeHostToken(&rc, req, &resp).ok());
  }
  // Expired: made valid for one second.
  std::string expired_token;
  {
    grpc::ClientContext ctx;
    v1::CreateHostTokenRequest req;
    req.mutable_ttl()->set_seconds(1);
    v1::CreateHostTokenResponse resp;
    ASSERT_TRUE(admin_->CreateHostToken(&ctx, req, &resp).ok());
    expired_token = resp.token();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  }
  std::string forged = token->substr(0, token->size() - 4) + "beef";
  if (forged == *token) forged = token->substr(0, token->size() - 4) + "dead";

  auto enroll = [&](const std::string& t, const std::string& hostname,
                    const std::string& csr) -> grpc::Status {
    auto stub = v1::EnrollmentService::NewStub(testing::TlsChannel(address_, ca_pem_));
    grpc::ClientContext ctx;
    v1::EnrollRequest req;
    req.set_token(t);
    req.set_hostname(hostname);
    req.set_csr_pem(csr);
    v1::EnrollResponse resp;
    return stub->Enroll(&ctx, req, &resp);
  };
  std::string key = *tls::GenerateKeyPem();
  std::string csr = *tls::MakeCsrPem(key, "evil");
  std::string bad_csr = csr;
  bad_csr[bad_csr.size() / 2] = bad_csr[bad_csr.size() / 2] == 'A' ? 'B' : 'A';

  struct Case {
    const char* name;
    std::string token;
    std::string csr;
    grpc::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"a forged token (right id, wrong secret)", forged, csr, grpc::StatusCode::UNAUTHENTICATED,
       "secret does not match"},
      {"a malformed token", "kfjt_nothex", csr, grpc::StatusCode::UNAUTHENTICATED, "malformed"},
      {"an unknown token", "kfjt_0000000000000000_" + std::string(64, 'a'), csr,
       grpc::StatusCode::UNAUTHENTICATED, "no such token"},
      {"a revoked token", *revoked, csr, grpc::StatusCode::UNAUTHENTICATED, "revoked"},
      {"an expired token", expired_token, csr, grpc::StatusCode::UNAUTHENTICATED, "expired"},
      {"a malformed CSR", *token, bad_csr, grpc::StatusCode::INVALID_ARGUMENT,
       "the certificate request"},
      {"no CSR at all", *token, "", grpc::StatusCode::INVALID_ARGUMENT,
       "the certificate request is not a PEM"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status s = enroll(c.token, "evil-1", c.csr);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    EXPECT_FALSE(Host("evil-1")) << "nothing was registered";
  }
  for (const Case& c : cases) {
    EXPECT_TRUE(Audited("agent.enroll.denied", "unauthenticated:", c.message)) << c.name;
  }

  // The bad CSRs consumed nothing: the token still enrolls once, then is spent.
  ASSERT_TRUE(enroll(*token, "new-1", csr).ok());
  EXPECT_EQ(Host("new-1")->labels().at("env"), "prod");
  grpc::Status replay = enroll(*token, "new-2", csr);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(replay.error_message(), HasSubstr("already been used"));
  EXPECT_FALSE(Host("new-2"));
}

TEST_F(AgentIdentityTest, ASingleUseTokenEnrollsExactlyOneHostWhenRacedFromManyClients) {
  absl::StatusOr<std::string> token = testing::CreateJoinToken(*admin_, "", {}, 1);
  ASSERT_TRUE(token.ok());
  constexpr int kRacers = 8;
  std::vector<absl::Status> results(kRacers);
  std::vector<std::thread> racers;
  for (int i = 0; i < kRacers; ++i) {
    racers.emplace_back([&, i] {
      results[i] =
          testing::EnrollTestHost(address_, ca_pem_, *token, "race-" + std::to_string(i)).status();
    });
  }
  for (auto& t : racers) t.join();
  int enrolled = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++enrolled;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
    }
  }
  EXPECT_EQ(enrolled, 1);
  int hosts = 0;
  for (const v1::Host& h : Hosts()) hosts += h.hostname().rfind("race-", 0) == 0;
  EXPECT_EQ(hosts, 1);
}

TEST_F(AgentIdentityTest, ATokenCannotTakeOverAnotherHostOrName) {
  Enroll("web-1", {{"env", "prod"}});
  absl::StatusOr<std::string> generic = testing::CreateJoinToken(*admin_, "", {{"env", "dev"}});
  ASSERT_TRUE(generic.ok());
  absl::StatusOr<TestHostCredentials> takeover =
      testing::EnrollTestHost(address_, ca_pem_, *generic, "web-1");
  ASSERT_FALSE(takeover.ok());
  EXPECT_EQ(takeover.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Host("web-1")->labels().at("env"), "prod");

  absl::StatusOr<std::string> for_db = testing::CreateJoinToken(*admin_, "db-1", {});
  ASSERT_TRUE(for_db.ok());
  absl::StatusOr<TestHostCredentials> other_name =
      testing::EnrollTestHost(address_, ca_pem_, *for_db, "web-1");
  ASSERT_FALSE(other_name.ok());
  EXPECT_EQ(other_name.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AgentIdentityTest, RemovingAHostClosesItsStreamAtOnceAndReenrollingRetiresOldCertificates) {
  GrantProd();
  TestHostCredentials web = Enroll("web-1", {{"env", "prod"}});
  // A long-lived stream, as a real agent holds.
  auto stub = v1::AgentService::NewStub(As(web));
  grpc::ClientContext ctx;
  ctx.set_deadline(In(20));
  auto stream = stub->Watch(&ctx);
  v1::AgentMessage hello;
  *hello.mutable_hello() = Hello();
  ASSERT_TRUE(stream->Write(hello));
  v1::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(resp.has_desired_state());

  RemovingEndsTheStream("web-1", *stream, absl::Seconds(2));
  EXPECT_FALSE(Host("web-1"));

  // Enrolled again (with a token made for it): the new certificate works, the old one not.
  TestHostCredentials again = Enroll("web-1", {{"env", "prod"}});
  EXPECT_TRUE(WatchOnce(As(again), Hello()).state);
  WatchOutcome old = WatchOnce(As(web), Hello());
  EXPECT_EQ(old.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(old.state);
}

TEST_F(AgentIdentityTest, ARemovalOnOneReplicaClosesTheHostsStreamOnAnother) {
  TestHostCredentials web = Enroll("web-1", {{"env", "prod"}});
  // A second replica on the same database and CA directory.
  ControllerConfig config;
  config.database = database_;
  config.listen = "127.0.0.1:0";
  config.ca_dir = ca_dir_;
  config.tls_names = {"127.0.0.1"};
  config.feed_poll_interval = absl::Seconds(1);
  ControllerServer other(config, clock_);
  ASSERT_TRUE(other.Start().ok());
  const std::string other_address = "127.0.0.1:" + std::to_string(other.port());
  auto stub = v1::AgentService::NewStub(testing::DedicatedTlsChannel(other_address, ca_pem_, web));
  grpc::ClientContext ctx;
  ctx.set_deadline(In(20));
  auto stream = stub->Watch(&ctx);
  v1::AgentMessage hello;
  *hello.mutable_hello() = Hello();
  ASSERT_TRUE(stream->Write(hello));
  v1::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp)) << "the other replica serves the enrolled host";

  // The other replica learns of it from the change feed (NOTIFY) at once.
  RemovingEndsTheStream("web-1", *stream, absl::Seconds(3));
  other.Shutdown();
}

TEST_F(AgentIdentityTest, AdminsLabelHostsAndTheNewLabelsReachTheAgent) {
  GrantProd();
  TestHostCredentials web = Enroll("web-1", {{"env", "dev"}});
  EXPECT_EQ(KeyCount(*WatchOnce(As(web), Hello()).state, "deploy"), 0u);
  grpc::ClientContext ctx;
  v1::LabelHostRequest req;
  req.set_hostname("web-1");
  (*req.mutable_set())["env"] = "prod";
  v1::MutationResponse resp;
  ASSERT_TRUE(admin_->LabelHost(&ctx, req, &resp).ok());
  EXPECT_GT(resp.change(), 0u);
  EXPECT_EQ(KeyCount(*WatchOnce(As(web), Hello()).state, "deploy"), 1u);
  EXPECT_TRUE(Audited("host.label", "token:bootstrap", "web-1"));
}

TEST_F(AgentIdentityTest, AnAgentRenewsItsCertificateOverMutualTls) {
  TestHostCredentials web = Enroll("web-1", {{"env", "prod"}});
  auto stub = v1::AgentService::NewStub(As(web));
  TestHostCredentials renewed;
  renewed.hostname = "web-1";
  renewed.key_pem = *tls::GenerateKeyPem();
  grpc::ClientContext ctx;
  v1::RenewRequest req;
  req.set_csr_pem(*tls::MakeCsrPem(renewed.key_pem, "web-1"));
  v1::RenewResponse resp;
  grpc::Status s = stub->Renew(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  renewed.cert_pem = resp.certificate_pem();
  EXPECT_EQ(tls::InspectCertificate(renewed.cert_pem)->common_name, "web-1");
  EXPECT_FALSE(resp.ca_bundle_pem().empty());
  EXPECT_TRUE(WatchOnce(As(renewed), Hello()).state);
  EXPECT_TRUE(Audited("host.certificate.renew", "host:web-1", "web-1"));

  // Without a certificate there is nothing to renew.
  auto anonymous = v1::AgentService::NewStub(testing::TlsChannel(address_, ca_pem_));
  grpc::ClientContext actx;
  v1::RenewResponse aresp;
  EXPECT_EQ(anonymous->Renew(&actx, req, &aresp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AgentIdentityTest, AdminCertificatesAuthenticateOverMutualTlsUntilRevoked) {
  absl::StatusOr<std::string> key = tls::GenerateKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> csr = tls::MakeCsrPem(*key, "ignored");
  ASSERT_TRUE(csr.ok());
  v1::IssueAdminCertificateRequest req;
  req.mutable_spec()->set_name("alice@example.com");
  req.mutable_spec()->set_role(v1::ROLE_AUDITOR);
  req.set_csr_pem(*csr);
  v1::IssueAdminCertificateResponse issued;
  {
    grpc::ClientContext ctx;
    grpc::Status s = admin_->IssueAdminCertificate(&ctx, req, &issued);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(issued.credential().kind(), "certificate");
  EXPECT_EQ(issued.ca_bundle_pem(), ca_pem_);
  TestHostCredentials alice{"", *key, issued.certificate_pem()};
  auto as_alice = v1::AdminService::NewStub(testing::DedicatedTlsChannel(address_, ca_pem_, alice));
  {
    grpc::ClientContext ctx;
    v1::WhoAmIResponse who;
    grpc::Status s = as_alice->WhoAmI(&ctx, v1::WhoAmIRequest(), &who);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(who.actor(), "cert:alice@example.com");
  }
  {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest add;
    add.set_name("carol");
    v1::MutationResponse resp;
    EXPECT_EQ(as_alice->AddPrincipal(&ctx, add, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);  // an auditor
  }
  // A host's certificate is no admin's.
  TestHostCredentials web = Enroll("web-1", {});
  auto as_host = v1::AdminService::NewStub(testing::DedicatedTlsChannel(address_, ca_pem_, web));
  {
    grpc::ClientContext ctx;
    v1::WhoAmIResponse who;
    grpc::Status s = as_host->WhoAmI(&ctx, v1::WhoAmIRequest(), &who);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("host web-1's certificate"));
  }
  // Revoked by name: refused from the next call, although the certificate is still valid.
  {
    grpc::ClientContext ctx;
    v1::RevokeTokenRequest revoke;
    revoke.set_name("alice@example.com");
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->RevokeToken(&ctx, revoke, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::WhoAmIResponse who;
    grpc::Status s = as_alice->WhoAmI(&ctx, v1::WhoAmIRequest(), &who);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), HasSubstr("revoked"));
  }
}

TEST_F(AgentIdentityTest, PlaintextIsRefusedOnTheTlsPort) {
  auto stub =
      v1::AdminService::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(In(3));
  v1::ListHostsResponse resp;
  EXPECT_FALSE(stub->ListHosts(&ctx, v1::ListHostsRequest(), &resp).ok());
}

TEST_F(AgentIdentityTest, InsecureDevRefusesToListenBeyondLoopback) {
  ControllerConfig config;
  config.database = database_;
  config.listen = "0.0.0.0:0";
  config.insecure_dev = true;
  ControllerServer server(config, clock_);
  absl::Status started = server.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.message()), HasSubstr("loopback"));
}

}  // namespace
}  // namespace keyfleet::controller
