// Fleet revocation benchmark (not a ctest test; as root). A private PostgreSQL, the real
// keyfleet-controller binary, and HOSTS simulated hosts in this process: each host is a sandbox
// root (its own etc/passwd and home) with its own agent — a Watch stream feeding the agent's
// real Reconciler (apply through the safe writer, cache, fsyncs) and a report back on it. One key
// granted to every host is revoked; the time from the RevokeKey call until each host's file no
// longer holds it is measured. Compare hosts/s with ../shared/bench/ansible-baseline.sh.
//
//   fleet_revoke CONTROLLER_BINARY [HOSTS=10000] [APPLY_THREADS=8] [SANDBOX_PARENT=/tmp]
//                [MODE=mtls|plaintext] [REPLICAS=1]
//
// SANDBOX_PARENT is where the hosts' sandbox roots go: /tmp (the disk) by default; a tmpfs such
// as /dev/shm shows the same run without the shared disk (no fsync cost, no inode allocator).
// MODE mtls (the default, as deployed): every host is enrolled through the controller's
// EnrollmentService with a join token, and holds its own TLS connection with its own client
// certificate; enrollment, then connection and handshake, are timed and printed apart from the
// revocation. plaintext: the controller runs with --insecure-dev, 32 shared connections.
// REPLICAS > 1 starts that many controllers on the one database (sharing its CA) and spreads the
// hosts over them round robin; the revocation goes through the first, and the others learn it
// from the change feed, as deployed.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "common/runtime_setup.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "node-agent/reconciler.h"
#include "tests/support/admin_setup.h"
#include "tests/support/child_process.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"
#include "tests/support/tls_fleet.h"

namespace v1 = keyfleet::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct Fleet {
  std::mutex mu;
  std::condition_variable cv;       // progress, for main(): ready, converged, failed
  std::condition_variable jobs_cv;  // work, for the apply workers: jobs, stop
  std::deque<std::pair<int, v1::DesiredState>> jobs;
  bool stop = false;
  int ready = 0;      // hosts whose file holds the key to revoke
  int converged = 0;  // hosts whose file no longer holds it, after the revocation
  int failed = 0;     // streams that ended with an error (printed)
  std::vector<double> latency_s;
  Clock::time_point revoked_at;
  bool revoking = false;
  // After the revocation: when each host's stream delivered the new state (before its apply).
  std::vector<double> received_s;
};

// One simulated agent's Watch stream: desired states go to the apply queue; reports come back
// from the apply workers (outside reactions, hence the hold) and are written one at a time.
class SimAgent : public grpc::ClientBidiReactor<v1::AgentMessage, v1::WatchResponse> {
 public:
  SimAgent(Fleet* fleet, int index) : fleet_(fleet), index_(index) {}
  // Separate from the constructor: a desired state may arrive before the constructor's caller
  // has stored the pointer the apply workers use.
  // `labelled`: say the labels in the hello (plaintext mode; over mTLS they come from the token).
  void Start(v1::AgentService::Stub* stub, bool labelled) {
    hello_.mutable_hello()->set_hostname("h" + std::to_string(index_));
    if (labelled) (*hello_.mutable_hello()->mutable_labels())["env"] = "bench";
    stub->async()->Watch(&ctx_, this);
    AddHold();
    writing_ = true;
    StartWrite(&hello_);
    StartRead(&resp_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (resp_.has_desired_state()) {
      std::lock_guard<std::mutex> lock(fleet_->mu);
      if (fleet_->revoking) {
        fleet_->received_s.push_back(
            std::chrono::duration<double>(Clock::now() - fleet_->revoked_at).count());
      }
      fleet_->jobs.emplace_back(index_, resp_.desired_state());
      fleet_->jobs_cv.notify_one();
    }
    StartRead(&resp_);
  }
  void SendReport(v1::AgentMessage msg) {
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (writing_) {
        pending_.push_back(std::move(msg));
        return;
      }
      writing_ = true;
      out_ = std::move(msg);
    }
    StartWrite(&out_);
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (!ok || pending_.empty()) {
        writing_ = false;
        return;
      }
      out_ = std::move(pending_.front());
      pending_.pop_front();
    }
    StartWrite(&out_);
  }
  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      std::lock_guard<std::mutex> lock(fleet_->mu);
      if (fleet_->failed++ < 5) {
        std::fprintf(stderr, "host h%d: stream ended: %s\n", index_,
                     status.error_message().c_str());
      }
      fleet_->cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(done_mu_);
    done_ = true;
    done_cv_.notify_all();
  }
  // After the last SendReport.
  void Cancel() {
    RemoveHold();
    ctx_.TryCancel();
  }
  void AwaitDone() {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; });
  }

 private:
  Fleet* fleet_;
  int index_;
  grpc::ClientContext ctx_;
  v1::AgentMessage hello_;
  v1::WatchResponse resp_;
  std::mutex write_mu_;
  bool writing_ = false;
  v1::AgentMessage out_;
  std::deque<v1::AgentMessage> pending_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

// Whether the file at `path` contains `needle` (plain read(2): this runs once per apply).
bool FileHolds(const std::string& path, const std::string& needle) {
  std::string content;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16384];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) content.append(buf, n);
  close(fd);
  return content.find(needle) != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  setvbuf(stdout, nullptr, _IOLBF, 0);  // each phase's figures as soon as they are known
  if (argc < 2 || geteuid() != 0) {
    std::fprintf(stderr, "usage (as root): %s CONTROLLER_BINARY [HOSTS] [APPLY_THREADS]\n",
                 argv[0]);
    return 2;
  }
  const int hosts = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 8;
  const std::string parent = argc > 4 ? argv[4] : "/tmp";
  const std::string mode = argc > 5 ? argv[5] : "mtls";
  const int replicas = argc > 6 ? std::max(1, std::atoi(argv[6])) : 1;
  if (mode != "mtls" && mode != "plaintext") {
    std::fprintf(stderr, "MODE must be mtls or plaintext\n");
    return 2;
  }
  const bool mtls = mode == "mtls";
  keyfleet::testing::TempPostgres pg;
  keyfleet::testing::ScopedTempDir dir("keyfleet-fleet-bench", parent);
  const std::string database = pg.Url(pg.CreateDatabase());
  const std::string root = dir.path().string();
  absl::StatusOr<keyfleet::testing::BenchController> started =
      keyfleet::testing::StartBenchController(argv[1], database, root, mtls);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  const keyfleet::testing::BenchController& bench_controller = *started;
  // Every replica, the first included; hosts h(i) watch replica i % replicas.
  std::vector<keyfleet::testing::BenchController> controllers = {bench_controller};
  for (int r = 1; r < replicas; ++r) {
    absl::StatusOr<keyfleet::testing::BenchController> replica =
        keyfleet::testing::StartBenchController(argv[1], database, root, mtls, {},
                                                "controller-" + std::to_string(r) + ".log");
    if (!replica.ok()) {
      std::fprintf(stderr, "replica %d: %s\n", r, replica.status().ToString().c_str());
      for (auto& c : controllers) keyfleet::testing::StopProcess(c.pid);
      return 1;
    }
    controllers.push_back(*std::move(replica));
  }
  std::printf("replicas=%d\n", replicas);
  // The processes whose CPU and memory are the controller's: all replicas.
  auto controller_cpu = [&] {
    double total = 0;
    for (const auto& c : controllers) total += keyfleet::testing::CpuSeconds(c.pid);
    return total;
  };
  auto controller_rss_kib = [&] {
    long total = 0;
    for (const auto& c : controllers) total += keyfleet::testing::ReadMemoryUse(c.pid).rss_kib;
    return total;
  };
  auto stop_controllers = [&] {
    for (const auto& c : controllers) keyfleet::testing::StopProcess(c.pid);
  };
  auto admin = v1::AdminService::NewStub(bench_controller.admin_channel);
  std::vector<keyfleet::testing::TestHostCredentials> creds;
  if (mtls) {
    auto t_enroll = Clock::now();
    absl::StatusOr<std::vector<keyfleet::testing::TestHostCredentials>> enrolled =
        keyfleet::testing::EnrollFleet(*admin, bench_controller, "h", hosts, {{"env", "bench"}});
    if (!enrolled.ok()) {
      std::fprintf(stderr, "%s\n", enrolled.status().ToString().c_str());
      return 1;
    }
    creds = *std::move(enrolled);
    std::printf("enrolled=%d enroll_s=%.1f\n", hosts,
                std::chrono::duration<double>(Clock::now() - t_enroll).count());
  }
  const std::string keep = keyfleet::testing::SyntheticEd25519Line(1, "keep");
  const std::string revoked = keyfleet::testing::SyntheticEd25519Line(2, "revoked");
  const std::string revoked_b64 = revoked.substr(12, 68);
  absl::StatusOr<v1::AddKeysResponse> added = keyfleet::testing::AddPrincipalWithGrant(
      *admin, "deploy", {keep, revoked}, keyfleet::testing::LabelSelector("env", "bench"),
      "deploy");
  if (!added.ok()) {
    std::fprintf(stderr, "inventory set-up: %s\n", added.status().ToString().c_str());
    return 1;
  }
  const std::string revoke_fp = added->keys(1).fingerprint();

  // Sandbox hosts and their agents' reconcilers.
  auto t_setup = Clock::now();
  std::vector<std::unique_ptr<keyfleet::agent::Reconciler>> reconcilers;
  for (int i = 0; i < hosts; ++i) {
    const std::string h = root + "/hosts/h" + std::to_string(i);
    std::filesystem::create_directories(h + "/etc");
    std::filesystem::create_directories(h + "/home/deploy");
    std::ofstream(h + "/etc/passwd") << "deploy:x:2000:2000::/home/deploy:/bin/sh\n";
    if (chown((h + "/home/deploy").c_str(), 2000, 2000) != 0) {
      std::perror("chown");  // the figure would be of a host sshd refuses
      std::exit(1);
    }
    keyfleet::agent::ReconcilerSettings settings;
    settings.apply.root = h;
    settings.cache_path = h + "/agent-cache";
    reconcilers.push_back(std::make_unique<keyfleet::agent::Reconciler>(settings));
  }
  std::printf("hosts=%d apply_threads=%d sandbox=%s sandbox_setup_s=%.1f\n", hosts, threads,
              parent.c_str(), std::chrono::duration<double>(Clock::now() - t_setup).count());

  Fleet fleet;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs;
  if (mtls) {
    // One TLS connection per host, each with its host's certificate, as deployed; connected and
    // handshaken before any Watch, so that cost is measured on its own.
    keyfleet::testing::FleetConnection fleet_connection;
    channels.resize(hosts);
    for (int r = 0; r < replicas; ++r) {
      std::vector<keyfleet::testing::TestHostCredentials> mine;
      for (int i = r; i < hosts; i += replicas) mine.push_back(creds[i]);
      keyfleet::testing::FleetConnection part =
          keyfleet::testing::ConnectFleet(controllers[r], mine);
      for (size_t k = 0; k < part.channels.size(); ++k) {
        channels[r + k * replicas] = std::move(part.channels[k]);
      }
      fleet_connection.connected += part.connected;
      fleet_connection.seconds += part.seconds;
      fleet_connection.controller_cpu_ms_per_handshake +=
          part.controller_cpu_ms_per_handshake * mine.size() / hosts;
      fleet_connection.agents_cpu_ms_per_handshake +=
          part.agents_cpu_ms_per_handshake * mine.size() / hosts;
    }
    for (auto& c : channels) stubs.push_back(v1::AgentService::NewStub(c));
    // Both ends of every handshake run on this machine: the controller's CPU is what a real
    // fleet costs it; the simulated agents' (mostly OpenSSL 3 decoding each channel's PEM key and
    // certificate) is each real agent's own, once.
    std::printf(
        "tls_connections=%d/%d connect_and_handshake_s=%.2f controller_cpu_ms_per_handshake=%.2f "
        "agents_cpu_ms_per_handshake=%.2f controller_rss_kib=%ld\n",
        fleet_connection.connected, hosts, fleet_connection.seconds,
        fleet_connection.controller_cpu_ms_per_handshake,
        fleet_connection.agents_cpu_ms_per_handshake, controller_rss_kib());
    if (fleet_connection.connected < hosts) return 1;
  } else {
    // 32 connections per replica; host i on connection i % count, so on replica i % replicas.
    for (int c = 0; c < 32 * replicas; ++c) {
      grpc::ChannelArguments args;
      args.SetInt("keyfleet.bench.connection", c);
      channels.push_back(grpc::CreateCustomChannel(controllers[c % replicas].address,
                                                   grpc::InsecureChannelCredentials(), args));
      stubs.push_back(v1::AgentService::NewStub(channels.back()));
    }
  }
  std::vector<std::unique_ptr<SimAgent>> agents(hosts);
  // Apply workers: the agent's work (apply, cache, report) for whichever host got a state.
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (;;) {
        std::pair<int, v1::DesiredState> job;
        {
          std::unique_lock<std::mutex> lock(fleet.mu);
          fleet.jobs_cv.wait(lock, [&] { return fleet.stop || !fleet.jobs.empty(); });
          if (fleet.stop) return;
          job = std::move(fleet.jobs.front());
          fleet.jobs.pop_front();
        }
        const int i = job.first;
        auto report = reconcilers[i]->Offer(job.second);
        const std::string file =
            root + "/hosts/h" + std::to_string(i) + "/home/deploy/.ssh/authorized_keys";
        const bool holds = FileHolds(file, revoked_b64);
        {
          std::lock_guard<std::mutex> lock(fleet.mu);
          if (!fleet.revoking && holds) ++fleet.ready;
          if (fleet.revoking && !holds) {
            ++fleet.converged;
            fleet.latency_s.push_back(
                std::chrono::duration<double>(Clock::now() - fleet.revoked_at).count());
          }
          fleet.cv.notify_all();
        }
        if (report) {
          v1::AgentMessage msg;
          msg.mutable_report()->set_applied_generation(report->generation);
          msg.mutable_report()->set_applied_digest(report->digest);
          // What a real agent reports too: every key line its accounts' files hold.
          for (v1::ObservedAccount& o : report->observed) {
            *msg.mutable_report()->add_observed() = std::move(o);
          }
          msg.mutable_report()->set_observed_included(true);
          agents[i]->SendReport(std::move(msg));
        }
      }
    });
  }
  auto t_connect = Clock::now();
  for (int i = 0; i < hosts; ++i) {
    agents[i] = std::make_unique<SimAgent>(&fleet, i);
  }
  for (int i = 0; i < hosts; ++i) {
    agents[i]->Start(stubs[i % stubs.size()].get(), /*labelled=*/!mtls);
  }
  {
    std::unique_lock<std::mutex> lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(600),
                      [&] { return fleet.ready + fleet.failed >= hosts; });
  }
  const long rss_kib = controller_rss_kib();
  if (fleet.failed > 0) {
    std::fprintf(stderr, "%d stream(s) failed; see above\n", fleet.failed);
    stop_controllers();
    return 1;
  }
  std::printf("mode=%s initial_sync: ready=%d/%d s=%.1f controller_rss_kib=%ld\n", mode.c_str(),
              fleet.ready, hosts, std::chrono::duration<double>(Clock::now() - t_connect).count(),
              rss_kib);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let reports settle

  // CPU each side spends on the revocation: the controller (push, reports, database) and this
  // process (the 10,000 simulated agents' streams, applies and reports), on the same cores.
  const double controller_cpu_before = controller_cpu();
  const double agents_cpu_before = keyfleet::testing::CpuSeconds(getpid());
  {
    std::lock_guard<std::mutex> lock(fleet.mu);
    fleet.revoking = true;
    fleet.revoked_at = Clock::now();
  }
  grpc::ClientContext rc;
  v1::RevokeKeyRequest rreq;
  rreq.set_fingerprint(revoke_fp);
  rreq.set_reason("benchmark");
  v1::MutationResponse rresp;
  if (!admin->RevokeKey(&rc, rreq, &rresp).ok()) return 1;
  {
    std::unique_lock<std::mutex> lock(fleet.mu);
    fleet.cv.wait_for(lock, std::chrono::seconds(120), [&] { return fleet.converged >= hosts; });
  }
  const double controller_cpu_s = controller_cpu() - controller_cpu_before;
  const double agents_cpu_s = keyfleet::testing::CpuSeconds(getpid()) - agents_cpu_before;
  std::vector<double> lat, received;
  {
    std::lock_guard<std::mutex> lock(fleet.mu);
    lat = fleet.latency_s;
    received = fleet.received_s;
  }
  std::sort(received.begin(), received.end());
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? -1.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  int still = 0;
  for (int i = 0; i < hosts; ++i) {
    still += FileHolds(root + "/hosts/h" + std::to_string(i) + "/home/deploy/.ssh/authorized_keys",
                       revoked_b64);
  }
  const double max_s = lat.empty() ? -1 : lat.back();
  std::printf(
      "revoke: converged=%zu/%d still_holding_revoked_key=%d p50_s=%.3f p99_s=%.3f max_s=%.3f "
      "hosts_per_s=%.0f\n",
      lat.size(), hosts, still, pct(0.5), pct(0.99), max_s, max_s > 0 ? lat.size() / max_s : 0);
  auto received_pct = [&](double p) {
    return received.empty()
               ? -1.0
               : received[std::min(received.size() - 1, static_cast<size_t>(p * received.size()))];
  };
  std::printf(
      "revoke_delivery: received=%zu p50_s=%.3f p99_s=%.3f max_s=%.3f cpu_s: controller=%.2f "
      "simulated_agents=%.2f\n",
      received.size(), received_pct(0.5), received_pct(0.99),
      received.empty() ? -1.0 : received.back(), controller_cpu_s, agents_cpu_s);

  {
    std::lock_guard<std::mutex> lock(fleet.mu);
    fleet.stop = true;
    fleet.jobs_cv.notify_all();
  }
  for (auto& w : workers) w.join();
  for (auto& a : agents) a->Cancel();
  for (auto& a : agents) a->AwaitDone();
  stop_controllers();
  return still == 0 && static_cast<int>(lat.size()) == hosts ? 0 : 1;
}
