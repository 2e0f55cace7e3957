// Controller scale benchmark (not a ctest test). Starts a private PostgreSQL and the real
// keyfleet-controller binary, loads KEYS keys, opens HOSTS concurrent agent Watch streams from
// this process, then revokes one key granted to every host and times how long until every
// stream has received the new desired state. Prints the controller's RSS at each stage.
//
//   controller_scale CONTROLLER_BINARY [HOSTS=10000] [KEYS=100000] [MODE=mtls|plaintext]
//
// mtls (the default, as deployed): every host is enrolled and holds its own TLS connection with
// its own certificate; plaintext: --insecure-dev, the streams share 32 connections.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/runtime_setup.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"
#include "tests/support/tls_fleet.h"

namespace v1 = keyfleet::v1;
using Clock = std::chrono::steady_clock;

namespace {

long RssKiB(pid_t pid) {
  return keyfleet::testing::ReadMemoryUse(pid).rss_kib;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Counts, per stream, desired states whose key count for "deploy" equals what we wait for.
struct Fleet {
  std::mutex mu;
  std::condition_variable cv;
  int connected = 0;  // first desired state received
  int converged = 0;  // received the state without the revoked key
  int failed = 0;
  std::vector<double> converge_s;
  Clock::time_point revoked_at;
};

class AgentStream : public grpc::ClientBidiReactor<v1::AgentMessage, v1::WatchResponse> {
 public:
  // `labelled`: name the host and its labels in the hello (plaintext mode; over mTLS both come
  // from the certificate and the join token).
  AgentStream(v1::AgentService::Stub* stub, Fleet* fleet, int index, int keys_before, bool labelled)
      : fleet_(fleet), keys_before_(keys_before) {
    v1::WatchRequest* hello = hello_.mutable_hello();
    if (labelled) {
      hello->set_hostname("host-" + std::to_string(index));
      (*hello->mutable_labels())["env"] = "prod";
    }
    stub->async()->Watch(&ctx_, this);
    StartWrite(&hello_);
    StartRead(&resp_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (resp_.has_desired_state()) {
      int keys = 0;
      for (const auto& a : resp_.desired_state().accounts()) keys += a.keys_size();
      std::lock_guard<std::mutex> lock(fleet_->mu);
      if (!seen_first_) {
        seen_first_ = true;
        ++fleet_->connected;
      } else if (keys == keys_before_ - 1 && !converged_) {
        converged_ = true;
        ++fleet_->converged;
        fleet_->converge_s.push_back(Seconds(fleet_->revoked_at, Clock::now()));
      }
      fleet_->cv.notify_all();
    }
    StartRead(&resp_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(fleet_->mu);
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) {
      ++fleet_->failed;
      if (fleet_->failed < 5)
        std::fprintf(stderr, "stream failed: %s\n", s.error_message().c_str());
    }
    done_ = true;
    fleet_->cv.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }
  bool done() const { return done_; }

 private:
  Fleet* fleet_;
  int keys_before_;
  grpc::ClientContext ctx_;
  v1::AgentMessage hello_;
  v1::WatchResponse resp_;
  bool seen_first_ = false;
  bool converged_ = false;
  bool done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONTROLLER_BINARY [HOSTS] [KEYS] [mtls|plaintext]\n", argv[0]);
    return 2;
  }
  const std::string binary = argv[1];
  const int hosts = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int keys = argc > 3 ? std::atoi(argv[3]) : 100000;
  const int principals = std::max(1, keys / 100);

  const std::string mode = argc > 4 ? argv[4] : "mtls";
  if (mode != "mtls" && mode != "plaintext") {
    std::fprintf(stderr, "MODE must be mtls or plaintext\n");
    return 2;
  }
  const bool mtls = mode == "mtls";

  keyfleet::testing::TempPostgres pg;
  keyfleet::testing::ScopedTempDir dir("keyfleet-scale-bench");
  grpc::ChannelArguments admin_args;
  admin_args.SetMaxSendMessageSize(64 << 20);
  admin_args.SetMaxReceiveMessageSize(256 << 20);
  absl::StatusOr<keyfleet::testing::BenchController> started =
      keyfleet::testing::StartBenchController(binary, pg.Url(pg.CreateDatabase()),
                                              dir.path().string(), mtls, admin_args);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  const pid_t controller = started->pid;
  auto admin_channel = started->admin_channel;
  auto admin = v1::AdminService::NewStub(admin_channel);
  std::printf("controller_rss_start_kib=%ld\n", RssKiB(controller));

  // Inventory: `principals` people with 100 keys each; every host gets person 0's keys.
  auto t0 = Clock::now();
  int key_index = 0;
  std::string revoke_fp;
  for (int p = 0; p < principals; ++p) {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest req;
    req.set_name("p" + std::to_string(p));
    v1::MutationResponse resp;
    if (!admin->AddPrincipal(&ctx, req, &resp).ok()) return 1;
    grpc::ClientContext kctx;
    v1::AddKeysRequest kreq;
    kreq.set_principal(req.name());
    for (int k = 0; k < keys / principals; ++k) {
      kreq.add_public_keys(keyfleet::testing::SyntheticEd25519Line(key_index++));
    }
    v1::AddKeysResponse kresp;
    grpc::Status s = admin->AddKeys(&kctx, kreq, &kresp);
    if (!s.ok()) {
      std::fprintf(stderr, "AddKeys: %s\n", s.error_message().c_str());
      return 1;
    }
    if (p == 0) revoke_fp = kresp.keys(0).fingerprint();
  }
  const int keys_per_host = keys / principals;
  {
    grpc::ClientContext ctx;
    v1::AddGrantRequest req;
    req.mutable_grant()->set_principal("p0");
    (*req.mutable_grant()->mutable_hosts()->mutable_labels())["env"] = "prod";
    req.mutable_grant()->set_account("deploy");
    v1::AddGrantResponse resp;
    if (!admin->AddGrant(&ctx, req, &resp).ok()) return 1;
  }
  auto t1 = Clock::now();
  std::printf("keys=%d principals=%d load_s=%.2f controller_rss_after_keys_kib=%ld\n", key_index,
              principals, Seconds(t0, t1), RssKiB(controller));

  // Agents: `hosts` Watch streams, each over its own TLS connection with its own certificate
  // (mtls), or over 32 shared connections (plaintext).
  Fleet fleet;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs;
  grpc::ChannelArguments agent_args;
  agent_args.SetMaxReceiveMessageSize(64 << 20);
  if (mtls) {
    auto t_enroll = Clock::now();
    absl::StatusOr<std::vector<keyfleet::testing::TestHostCredentials>> enrolled =
        keyfleet::testing::EnrollFleet(*admin, *started, "host-", hosts, {{"env", "prod"}});
    if (!enrolled.ok()) {
      std::fprintf(stderr, "%s\n", enrolled.status().ToString().c_str());
      return 1;
    }
    std::printf("enrolled=%d enroll_s=%.1f controller_rss_kib=%ld\n", hosts,
                Seconds(t_enroll, Clock::now()), RssKiB(controller));
    keyfleet::testing::FleetConnection connection =
        keyfleet::testing::ConnectFleet(*started, *enrolled, agent_args);
    std::printf(
        "tls_connections=%d/%d connect_and_handshake_s=%.2f controller_cpu_ms_per_handshake=%.2f "
        "controller_rss_connections_kib=%ld\n",
        connection.connected, hosts, connection.seconds, connection.controller_cpu_ms_per_handshake,
        RssKiB(controller));
    if (connection.connected < hosts) return 1;
    channels = std::move(connection.channels);
  } else {
    for (int c = 0; c < 32; ++c) {
      grpc::ChannelArguments args = agent_args;
      args.SetInt("keyfleet.bench.connection", c);  // a distinct connection per channel
      channels.push_back(
          grpc::CreateCustomChannel(started->address, grpc::InsecureChannelCredentials(), args));
    }
  }
  for (auto& c : channels) stubs.push_back(v1::AgentService::NewStub(c));
  std::vector<std::unique_ptr<AgentStream>> streams;
  auto t2 = Clock::now();
  // Plaintext hellos of new hosts are registered one by one from a bounded queue (the controller
  // refuses a hello past 256 waiting, and a real agent retries): open them in waves within it.
  // Enrolled hosts (mTLS) are registered already and all open at once.
  const int wave = mtls ? hosts : 200;
  for (int h = 0; h < hosts; ++h) {
    streams.push_back(std::make_unique<AgentStream>(stubs[h % stubs.size()].get(), &fleet, h,
                                                    keys_per_host, /*labelled=*/!mtls));
    if ((h + 1) % wave == 0) {
      std::unique_lock<std::mutex> lock(fleet.mu);
      fleet.cv.wait_for(lock, std::chrono::seconds(60),
                        [&] { return fleet.connected + fleet.failed >= h + 1; });
    }
  }
  {
    std::unique_lock<std::mutex> lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(600),
                      [&] { return fleet.connected + fleet.failed >= hosts; });
  }
  auto t3 = Clock::now();
  std::printf(
      "streams=%d connected=%d failed=%d connect_all_s=%.2f controller_rss_streams_kib=%ld\n",
      hosts, fleet.connected, fleet.failed, Seconds(t2, t3), RssKiB(controller));

  // Revoke one key granted to every host; time until every stream has the new state.
  {
    std::lock_guard<std::mutex> lock(fleet.mu);
    fleet.revoked_at = Clock::now();
  }
  grpc::ClientContext rctx;
  v1::RevokeKeyRequest rreq;
  rreq.set_fingerprint(revoke_fp);
  rreq.set_reason("benchmark");
  v1::MutationResponse rresp;
  grpc::Status rs = admin->RevokeKey(&rctx, rreq, &rresp);
  if (!rs.ok()) {
    std::fprintf(stderr, "revoke: %s\n", rs.error_message().c_str());
    return 1;
  }
  {
    std::unique_lock<std::mutex> lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(120),
                      [&] { return fleet.converged >= fleet.connected; });
  }
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(fleet.mu);
    lat = fleet.converge_s;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? -1.0 : lat[std::min(lat.size() - 1, size_t(p * lat.size()))];
  };
  std::printf("revoke_pushed=%zu/%d p50_s=%.3f p99_s=%.3f max_s=%.3f controller_rss_end_kib=%ld\n",
              lat.size(), fleet.connected, pct(0.5), pct(0.99), lat.empty() ? -1.0 : lat.back(),
              RssKiB(controller));

  for (auto& s : streams) s->Cancel();
  keyfleet::testing::StopProcess(controller);
  {
    std::unique_lock<std::mutex> lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(10), [&] {
      return std::all_of(streams.begin(), streams.end(), [](auto& s) { return s->done(); });
    });
  }
  return 0;
}
