// Metrics, health and JSON logs end to end: a private PostgreSQL, the keyfleet-controller binary
// (TLS, --metrics-listen on a loopback port, --log-format json) and the keyfleet-agent binary
// (enrolled, --log-format json, its sandbox root holding node_exporter's textfile directory).
//
// /metrics passes `promtool check metrics` without a single problem and its values move (a
// mutation counts under its RPC and gRPC code, a revocation's latency is observed once the agent
// applied it, hosts converge); the agent's textfile passes promtool too; /healthz is 200; /readyz
// and gRPC health follow the database: 200/SERVING, then 503/NOT_SERVING with PostgreSQL
// stopped (pg_ctl stop -m immediate), then 200/SERVING again after it restarts. Every line either
// daemon logged parses as one JSON object. Labels: packaging, postgres, tls.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "node-agent/tests/sandbox.h"
#include "tests/support/admin_setup.h"
#include "tests/support/admin_token.h"
#include "tests/support/child_process.h"
#include "tests/support/promtool_check.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_identity.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using agent::testing::Read;
using agent::testing::Sandbox;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTextfile[] = "var/lib/prometheus/node-exporter/keyfleet-agent.prom";

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET `path` from 127.0.0.1:`port` (HTTP/1.0: the server closes the connection after it).
HttpAnswer HttpGet(int port, const std::string& path) {
  HttpAnswer answer;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return answer;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return answer;
  std::vector<std::string> status_line =
      absl::StrSplit(response.substr(0, response.find("\r\n")), ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &answer.status)) return answer;
  answer.body = response.substr(header_end + 4);
  return answer;
}

// The value of the sample `name` (with its labels, exactly as exposed), or -1.
double Sample(const std::string& exposition, const std::string& name) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, name + " ")) {
      double value = -1;
      return absl::SimpleAtod(line.substr(name.size() + 1), &value) ? value : -1;
    }
  }
  return -1;
}

// gRPC health's answer for the whole server ("" service): 1 SERVING, 2 NOT_SERVING, -1 none.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel) {
  std::string bytes;
  grpc::Status status = GenericUnaryCall(channel, "/grpc.health.v1.Health/Check", "", &bytes);
  if (!status.ok() || bytes.size() != 2 || bytes[0] != 0x08) return -1;
  return bytes[1];
}

// Every line of `log` parses as a JSON object with time (RFC 3339 UTC, milliseconds), level,
// logger and msg; returns the problems.
std::string JsonLogProblems(const std::string& log) {
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  std::string problems;
  std::istringstream in(Read(log));
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j["time"].is_string() || !j["level"].is_string() ||
        !j["logger"].is_string() || !j["msg"].is_string() ||
        !std::regex_match(j["time"].get<std::string>(), kTime)) {
      absl::StrAppend(&problems, log, " line ", lines, ": ", line, "\n");
    }
  }
  if (lines == 0) absl::StrAppend(&problems, log, " is empty\n");
  return problems;
}

class MetricsHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = pg_.Url(pg_.CreateDatabase());
    address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    metrics_port_ = FreeLoopbackPort();
    controller_log_ = Path("controller.log");
    agent_log_ = Path("agent.log");
    // A webhook nobody serves: each delivery is tried once and set to retry in an hour.
    std::ofstream(Path("webhook.secret")) << "metrics-test-secret";
    ASSERT_EQ(chmod(Path("webhook.secret").c_str(), 0600), 0);
    std::ofstream(Path("controller.yaml"))
        << "notifications:\n  webhooks:\n    - name: test\n      url: http://127.0.0.1:"
        << FreeLoopbackPort() << "/hook\n      secret_file: " << Path("webhook.secret")
        << "\n  retry:\n    initial_backoff: 1h\n";
    controller_ = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--config", Path("controller.yaml"), "--db", database_, "--listen",
         address_, "--metrics-listen", absl::StrCat("127.0.0.1:", metrics_port_), "--ca-dir",
         Path("ca"), "--bootstrap-token-file", Path("bootstrap.token"), "--log-format", "json"},
        controller_log_);
    ASSERT_GT(controller_, 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          if (!admin_) {
            const std::string ca = Read(Path("ca/ca.crt"));
            absl::StatusOr<std::string> token = ReadTokenFile(Path("bootstrap.token"));
            if (ca.empty() || !token.ok() || HttpGet(metrics_port_, "/healthz").status != 200) {
              return false;
            }
            ca_pem_ = ca;
            admin_ = v1::AdminService::NewStub(TokenTlsChannel(address_, ca, *token));
            channel_ = TlsChannel(address_, ca);
          }
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
          v1::ListHostsResponse hosts;
          return admin_->ListHosts(&ctx, v1::ListHostsRequest(), &hosts).ok();
        },
        std::chrono::seconds(30)))
        << Read(controller_log_);
  }

  void TearDown() override {
    if (agent_ > 0) StopProcess(agent_);
    if (controller_ > 0) StopProcess(controller_);
  }

  std::string Path(const std::string& name) const { return dir_.path().string() + "/" + name; }
  std::string Metrics() const { return HttpGet(metrics_port_, "/metrics").body; }

  // Enrolls host web-1 (env=prod) and runs the agent binary on the sandbox.
  void StartAgent() {
    grpc::ClientContext ctx;
    v1::CreateHostTokenRequest req;
    req.set_hostname("web-1");
    (*req.mutable_labels())["env"] = "prod";
    v1::CreateHostTokenResponse token;
    ASSERT_TRUE(admin_->CreateHostToken(&ctx, req, &token).ok());
    std::ofstream(Path("join.token")) << token.token();
    CommandResult enrolled = RunCommand(absl::StrCat(
        KEYFLEET_AGENT, " enroll --controller ", address_, " --token-file ", Path("join.token"),
        " --ca-hash ", token.ca_pin(), " --tls-dir ", host_.Path("tls"), " 2>&1"));
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    // node_exporter's directory exists on this host: the agent keeps its textfile there.
    ASSERT_EQ(RunCommand("mkdir -p " + host_.Path("var/lib/prometheus/node-exporter")).exit_code,
              0);
    agent_ = SpawnProcess(
        {KEYFLEET_AGENT, "run", "--controller", address_, "--tls-dir", host_.Path("tls"), "--root",
         host_.root(), "--cache", host_.Path("agent-cache"), "--recheck-interval", "5s",
         "--log-format", "json"},
        agent_log_);
    ASSERT_GT(agent_, 0);
  }

  TempPostgres pg_;
  ScopedTempDir dir_{"kf-metrics"};
  Sandbox host_;
  std::string database_;
  std::string address_;
  int metrics_port_ = 0;
  std::string controller_log_;
  std::string agent_log_;
  pid_t controller_ = -1;
  pid_t agent_ = -1;
  std::string ca_pem_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(MetricsHealthTest, MetricsMoveAndReadinessFollowsTheDatabase) {
  // Probes and gRPC health of a replica that is up.
  HttpAnswer healthz = HttpGet(metrics_port_, "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok\n");
  EXPECT_EQ(HttpGet(metrics_port_, "/readyz").status, 200);
  EXPECT_EQ(HttpGet(metrics_port_, "/nothing").status, 404);
  EXPECT_EQ(HealthStatus(channel_), 1);

  // alice's two keys, granted to env=prod as alice; the agent gets them.
  const std::vector<std::string> lines = {SyntheticEd25519Line(1, "one"),
                                          SyntheticEd25519Line(2, "two")};
  absl::StatusOr<v1::AddKeysResponse> added =
      AddPrincipalWithGrant(*admin_, "alice", lines, LabelSelector("env", "prod"), "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  const std::string file = host_.Path("home/alice/.ssh/authorized_keys");
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(Read(file), lines[0].substr(12, 40)); },
                      std::chrono::seconds(20)))
      << Read(agent_log_);

  // A refused mutation counts under its code; a read is no mutation.
  {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest bad;  // no name
    v1::MutationResponse resp;
    EXPECT_EQ(admin_->AddPrincipal(&ctx, bad, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext list_ctx;
    v1::ListKeysResponse keys;
    EXPECT_TRUE(admin_->ListKeys(&list_ctx, v1::ListKeysRequest(), &keys).ok());
  }
  std::string metrics;
  ASSERT_TRUE(WaitFor(
      [&] {
        metrics = Metrics();
        return Sample(metrics, "keyfleet_hosts{state=\"converged\"}") == 1;
      },
      std::chrono::seconds(20)))
      << metrics;
  EXPECT_EQ(PromtoolProblems(metrics), "") << metrics;
  EXPECT_EQ(Sample(metrics, "keyfleet_connected_agents"), 1);
  EXPECT_EQ(Sample(metrics, "keyfleet_hosts{state=\"pending\"}"), 0);
  EXPECT_EQ(Sample(metrics, "keyfleet_hosts{state=\"offline\"}"), 0);
  EXPECT_EQ(Sample(metrics, "keyfleet_admin_mutations_total{code=\"OK\",rpc=\"AddPrincipal\"}"), 1);
  EXPECT_EQ(Sample(metrics, "keyfleet_admin_mutations_total{code=\"OK\",rpc=\"AddKeys\"}"), 1);
  EXPECT_EQ(Sample(metrics, "keyfleet_admin_mutations_total{code=\"OK\",rpc=\"CreateHostToken\"}"),
            1);
  EXPECT_EQ(
      Sample(metrics,
             "keyfleet_admin_mutations_total{code=\"INVALID_ARGUMENT\",rpc=\"AddPrincipal\"}"),
      1);
  EXPECT_THAT(metrics, Not(HasSubstr("rpc=\"ListKeys\"")));
  EXPECT_THAT(metrics, Not(HasSubstr("rpc=\"ListHosts\"")));
  EXPECT_GE(Sample(metrics, "keyfleet_desired_state_pushes_total"), 1);
  EXPECT_EQ(Sample(metrics, "keyfleet_revoke_to_converged_seconds_count"), 0);
  EXPECT_EQ(Sample(metrics, "keyfleet_database_outage"), 0);
  EXPECT_EQ(Sample(metrics, "keyfleet_ready"), 1);
  EXPECT_GE(Sample(metrics, "keyfleet_database_pool_connections"), 1);
  EXPECT_GE(Sample(metrics, "keyfleet_database_pool_connections_in_use"), 0);
  EXPECT_GE(Sample(metrics, "keyfleet_database_retries_total"), 0);
  // The configured sink's counters exist from the start (bulk adds notify nobody).
  EXPECT_EQ(
      Sample(metrics,
             "keyfleet_notification_deliveries_total{result=\"delivered\",sink=\"webhook:test\"}"),
      0);
  EXPECT_EQ(Sample(metrics,
                   "keyfleet_notification_deliveries_total{result=\"dead\",sink=\"webhook:test\"}"),
            0);
  EXPECT_THAT(metrics, Not(HasSubstr(pg_.socket_dir())));

  // A revocation: its latency is observed once the agent applied it and reported.
  const double pushes = Sample(metrics, "keyfleet_desired_state_pushes_total");
  {
    grpc::ClientContext ctx;
    v1::RevokeKeyRequest revoke;
    revoke.set_fingerprint(added->keys(0).fingerprint());
    revoke.set_reason("metrics test");
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->RevokeKey(&ctx, revoke, &resp).ok());
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        metrics = Metrics();
        return Sample(metrics, "keyfleet_revoke_to_converged_seconds_count") == 1;
      },
      std::chrono::seconds(20)))
      << metrics << Read(agent_log_);
  EXPECT_THAT(Read(file), Not(HasSubstr(lines[0].substr(12, 40))));
  EXPECT_GT(Sample(metrics, "keyfleet_desired_state_pushes_total"), pushes);
  EXPECT_EQ(Sample(metrics, "keyfleet_admin_mutations_total{code=\"OK\",rpc=\"RevokeKey\"}"), 1);
  EXPECT_EQ(Sample(metrics, "keyfleet_revoke_to_converged_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_GT(Sample(metrics, "keyfleet_revoke_to_converged_seconds_sum"), 0);
  // key.revoked went to the webhook nobody serves: tried once, to be retried.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sample(Metrics(),
                      "keyfleet_notification_deliveries_total{result=\"retry\",sink=\"webhook:"
                      "test\"}") >= 1;
      },
      std::chrono::seconds(10)))
      << Metrics() << Read(controller_log_);
  EXPECT_EQ(PromtoolProblems(metrics), "") << metrics;
  ASSERT_TRUE(WaitFor([&] { return Sample(Metrics(), "keyfleet_hosts{state=\"converged\"}") == 1; },
                      std::chrono::seconds(10)));

  // The agent's textfile: written after the apply, 0644, accepted by promtool.
  const std::string textfile = host_.Path(kTextfile);
  std::string agent_metrics;
  ASSERT_TRUE(WaitFor(
      [&] {
        agent_metrics = Read(textfile);
        return Sample(agent_metrics, "keyfleet_agent_controller_connected") == 1 &&
               Sample(agent_metrics, "keyfleet_agent_applied_generation") >= 1;
      },
      std::chrono::seconds(40)))
      << agent_metrics << Read(agent_log_);
  EXPECT_EQ(PromtoolProblems(agent_metrics), "") << agent_metrics;
  EXPECT_EQ(Sample(agent_metrics, "keyfleet_agent_last_apply_success"), 1);
  EXPECT_EQ(Sample(agent_metrics, "keyfleet_agent_last_apply_failed_accounts"), 0);
  EXPECT_EQ(Sample(agent_metrics, "keyfleet_agent_cache_age_seconds"), 0);
  EXPECT_GT(Sample(agent_metrics, "keyfleet_agent_client_certificate_expiry_timestamp_seconds"),
            static_cast<double>(time(nullptr)));
  EXPECT_GT(Sample(agent_metrics, "keyfleet_agent_last_apply_timestamp_seconds"),
            static_cast<double>(time(nullptr) - 60));
  EXPECT_EQ(Sample(agent_metrics, "keyfleet_agent_drift_items{kind=\"unmanaged_key\"}"), 0);
  struct stat st {};
  ASSERT_EQ(stat(textfile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  // The database goes away: not ready, NOT_SERVING, an outage; the process still serves.
  pg_.Stop(/*immediate=*/true);
  const auto stopped_at = std::chrono::steady_clock::now();
  HttpAnswer readyz;
  ASSERT_TRUE(WaitFor(
      [&] {
        readyz = HttpGet(metrics_port_, "/readyz");
        return readyz.status == 503;
      },
      std::chrono::seconds(10)))
      << readyz.status << " " << readyz.body;
  const double unready_after = SecondsSince(stopped_at);
  EXPECT_EQ(readyz.body, "not ready: the database is unreachable\n");
  EXPECT_THAT(readyz.body, Not(HasSubstr(pg_.socket_dir())));
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel_) == 2; }, std::chrono::seconds(5)));
  EXPECT_EQ(HttpGet(metrics_port_, "/healthz").status, 200);
  metrics = Metrics();
  EXPECT_EQ(Sample(metrics, "keyfleet_database_outage"), 1) << metrics;
  EXPECT_EQ(Sample(metrics, "keyfleet_ready"), 0);
  EXPECT_EQ(PromtoolProblems(metrics), "") << metrics;

  // It comes back: ready and SERVING again.
  pg_.Start();
  const auto started_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return HttpGet(metrics_port_, "/readyz").status == 200; },
                      std::chrono::seconds(20)))
      << Read(controller_log_);
  const double ready_after = SecondsSince(started_at);
  EXPECT_TRUE(WaitFor([&] { return HealthStatus(channel_) == 1; }, std::chrono::seconds(5)));
  EXPECT_EQ(Sample(Metrics(), "keyfleet_database_outage"), 0);
  std::printf("/readyz 503 %.2f s after PostgreSQL stopped, 200 again %.2f s after it started\n",
              unready_after, ready_after);
  std::printf("the agent's textfile:\n%s", agent_metrics.c_str());

  // Both daemons logged nothing but JSON lines.
  StopProcess(agent_);
  agent_ = -1;
  StopProcess(controller_);
  controller_ = -1;
  EXPECT_EQ(JsonLogProblems(controller_log_), "");
  EXPECT_EQ(JsonLogProblems(agent_log_), "");
  EXPECT_THAT(Read(controller_log_),
              HasSubstr("\"msg\":\"not ready (the database is unreachable)"));
}

TEST(MetricsListen, BadOrBusyAddressesAreClearErrors) {
  // A malformed address is a usage error, before anything starts.
  CommandResult bad = RunCommand(absl::StrCat(KEYFLEET_CONTROLLER,
                                              " --db postgresql:///nowhere --metrics-listen "
                                              "http://0.0.0.0:9464 2>&1"));
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("metrics_listen \"http://0.0.0.0:9464\": a URL, not an address"));
  ScopedTempDir dir("kf-metrics-listen");
  std::ofstream(dir.path().string() + "/c.yaml") << "metrics_listen: 127.0.0.1\n";
  CommandResult bad_file =
      RunCommand(absl::StrCat(KEYFLEET_CONTROLLER, " --db postgresql:///nowhere --config ",
                              dir.path().string(), "/c.yaml 2>&1"));
  EXPECT_EQ(bad_file.exit_code, 2) << bad_file.out;
  EXPECT_THAT(bad_file.out, HasSubstr("metrics_listen \"127.0.0.1\": no port"));

  // A port in use, when given, keeps the controller from starting (exit 1), before the database.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int busy = ntohs(addr.sin_port);
  CommandResult in_use = RunCommand(absl::StrCat(
      KEYFLEET_CONTROLLER, " --db postgresql:///nowhere --insecure-dev --listen 127.0.0.1:0",
      " --metrics-listen 127.0.0.1:", busy, " 2>&1"));
  close(fd);
  EXPECT_EQ(in_use.exit_code, 1) << in_use.out;
  EXPECT_THAT(in_use.out, HasSubstr(absl::StrCat("cannot serve metrics and probes on 127.0.0.1:",
                                                 busy, ": the port is in use")));
}

}  // namespace
}  // namespace keyfleet::testing
