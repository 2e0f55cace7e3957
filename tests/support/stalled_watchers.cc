#include "tests/support/stalled_watchers.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "tests/support/admin_setup.h"
#include "tests/support/child_process.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/stalled_streams.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"
#include "tests/support/tls_fleet.h"

namespace keyfleet::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

long RssKiB(pid_t pid) {
  return ReadMemoryUse(pid).rss_kib;
}

// A well-behaved agent: reads every message, remembers the last desired state's digest and
// reports it applied, as keyfleet-agent does after each apply.
class ReadingAgent {
 public:
  ReadingAgent(const BenchController& controller, const TestHostCredentials& host) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(8 << 20);
    channel_ = DedicatedTlsChannel(controller.address, controller.ca_pem, host, args);
    stub_ = v1::AgentService::NewStub(channel_);
    stream_ = stub_->Watch(&ctx_);
    v1::AgentMessage hello;
    hello.mutable_hello();
    stream_->Write(hello);
    reader_ = std::thread([this] { ReadAll(); });
  }
  ~ReadingAgent() {
    ctx_.TryCancel();
    reader_.join();
    (void)stream_->Finish();
  }

  // Waits for a desired state whose digest differs from `previous` ("" for the first one).
  bool WaitForNewState(const std::string& previous, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                        [&] { return states_ > 0 && digest_ != previous; });
  }
  std::string digest() {
    std::lock_guard<std::mutex> lock(mu_);
    return digest_;
  }
  size_t state_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return state_bytes_;
  }

 private:
  void ReadAll() {
    v1::WatchResponse resp;
    while (stream_->Read(&resp)) {
      if (!resp.has_desired_state()) continue;
      const v1::DesiredState& state = resp.desired_state();
      v1::AgentMessage report;
      report.mutable_report()->set_applied_generation(state.generation());
      report.mutable_report()->set_applied_epoch(state.epoch());
      report.mutable_report()->set_applied_digest(state.digest());
      if (!stream_->Write(report)) break;
      std::lock_guard<std::mutex> lock(mu_);
      ++states_;
      digest_ = state.digest();
      state_bytes_ = resp.ByteSizeLong();
      cv_.notify_all();
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::WatchResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  int states_ = 0;
  std::string digest_;
  size_t state_bytes_ = 0;
};

// Grants `accounts` accounts on every host, `keys_per_account` keys of one principal each.
// Returns the fingerprint of the first key.
absl::StatusOr<std::string> GrantManyKeys(v1::AdminService::Stub& admin,
                                          const StalledWatchOptions& options) {
  std::vector<std::string> lines;
  for (int i = 0; i < options.keys_per_account; ++i) lines.push_back(SyntheticEd25519Line(i));
  v1::HostSelector everywhere;
  everywhere.set_hostname_glob("*");
  absl::StatusOr<v1::AddKeysResponse> keys =
      AddPrincipalWithGrant(admin, "bulk", lines, everywhere, "acct0");
  if (!keys.ok()) return keys.status();
  for (int a = 1; a < options.accounts; ++a) {
    grpc::ClientContext ctx;
    v1::AddGrantRequest req;
    req.mutable_grant()->set_principal("bulk");
    *req.mutable_grant()->mutable_hosts() = everywhere;
    req.mutable_grant()->set_account(absl::StrCat("acct", a));
    v1::AddGrantResponse resp;
    grpc::Status s = admin.AddGrant(&ctx, req, &resp);
    if (!s.ok()) return absl::UnknownError("AddGrant: " + s.error_message());
  }
  if (keys->keys_size() == 0) return absl::InternalError("AddKeys returned no keys");
  return keys->keys(0).fingerprint();
}

// The controller's RSS, sampled every 200 ms into `peak` until `until`; with `trace`, on stderr
// whenever it moved by 4 MiB or more (seconds since `origin`).
void SampleUntil(pid_t pid, SteadyClock::time_point until, long* peak, bool trace,
                 SteadyClock::time_point origin) {
  long shown = 0;
  for (;;) {
    const long rss = RssKiB(pid);
    *peak = std::max(*peak, rss);
    if (trace && std::abs(rss - shown) >= 4096) {
      shown = rss;
      std::fprintf(stderr, "[stalled_watchers] t=%.1fs RSS %ld KiB\n",
                   std::chrono::duration<double>(SteadyClock::now() - origin).count(), rss);
    }
    if (SteadyClock::now() >= until) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

absl::StatusOr<StalledWatchFigures> RunWithController(const StalledWatchOptions& options,
                                                      const BenchController& controller,
                                                      const std::string& log) {
  auto say = [&](const std::string& what) {
    if (options.progress) std::fprintf(stderr, "[stalled_watchers] %s\n", what.c_str());
  };
  StalledWatchFigures figures;
  const pid_t pid = controller.pid;
  auto admin = v1::AdminService::NewStub(controller.admin_channel);
  absl::StatusOr<std::string> revoke_fingerprint = GrantManyKeys(*admin, options);
  if (!revoke_fingerprint.ok()) return revoke_fingerprint.status();
  absl::StatusOr<std::vector<TestHostCredentials>> hosts =
      EnrollFleet(*admin, controller, "stall-", 2, {});
  if (!hosts.ok()) return hosts.status();
  say("inventory loaded, two hosts enrolled");

  ReadingAgent reader(controller, (*hosts)[1]);
  if (!reader.WaitForNewState("", absl::Seconds(30))) {
    return absl::DeadlineExceededError("the reading agent got no desired state; see " + log);
  }
  figures.state_bytes = reader.state_bytes();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  figures.idle_rss_kib = RssKiB(pid);
  say(absl::StrCat("state ", figures.state_bytes, " bytes, idle RSS ", figures.idle_rss_kib,
                   " KiB"));

  // No BDP probing: a client that never reads then keeps gRPC's default 64 KiB stream window
  // instead of growing it to take whole messages into its own buffers.
  grpc::ChannelArguments stalled_args;
  stalled_args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  FleetConnection connection = ConnectFleet(
      controller, std::vector<TestHostCredentials>(options.connections, (*hosts)[0]), stalled_args);
  if (connection.connected < options.connections) {
    return absl::UnavailableError(absl::StrCat("only ", connection.connected, " of ",
                                               options.connections, " connections; see ", log));
  }
  figures.connections_rss_kib = RssKiB(pid);
  StalledStreams clients(std::move(connection.channels));
  say(absl::StrCat(options.connections, " connections, RSS ", figures.connections_rss_kib,
                   " KiB; opening ", options.streams, " stalled streams"));

  const auto held_from = SteadyClock::now();
  long peak = 0;
  clients.Open(options.streams);
  figures.opened = options.streams;
  // Half the hold with the first states pending, then a revocation (every host's state changes,
  // so the controller has a newer state for every stalled stream too), then the rest.
  const auto hold_end = held_from + absl::ToChronoMilliseconds(options.hold);
  SampleUntil(pid, held_from + absl::ToChronoMilliseconds(options.hold / 2), &peak,
              options.progress, held_from);
  figures.streams_rss_kib = RssKiB(pid);
  say(absl::StrCat("streams open, RSS ", figures.streams_rss_kib, " KiB; revoking a key"));
  const std::string before = reader.digest();
  const auto revoked_at = SteadyClock::now();
  {
    grpc::ClientContext ctx;
    v1::RevokeKeyRequest req;
    req.set_fingerprint(*revoke_fingerprint);
    req.set_reason("stalled watchers scenario");
    v1::MutationResponse resp;
    grpc::Status s = admin->RevokeKey(&ctx, req, &resp);
    if (!s.ok()) return absl::UnknownError("RevokeKey: " + s.error_message());
  }
  std::thread sampler([&] { SampleUntil(pid, hold_end, &peak, options.progress, held_from); });
  if (reader.WaitForNewState(before, absl::Seconds(60))) {
    figures.revoke_delivery_s = SecondsSince(revoked_at);
  }
  sampler.join();
  figures.peak_rss_kib = peak;
  say(absl::StrCat("peak RSS ", peak, " KiB, revocation delivered after ",
                   figures.revoke_delivery_s, " s; the clients go"));

  // The clients go: every stream cancelled, every connection closed.
  if (!clients.Close()) {
    return absl::DeadlineExceededError("a stalled stream did not end within 30 s of its cancel");
  }
  const auto gone_at = SteadyClock::now();
  const auto wait_end = gone_at + absl::ToChronoMilliseconds(options.release_wait);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    figures.after_rss_kib = RssKiB(pid);
    if (figures.after_rss_kib <= figures.idle_rss_kib + options.returned_within_kib) {
      figures.returned_s = SecondsSince(gone_at);
      break;
    }
  } while (SteadyClock::now() < wait_end);
  say(absl::StrCat("after: RSS ", figures.after_rss_kib, " KiB"));
  return figures;
}

}  // namespace

absl::StatusOr<StalledWatchFigures> RunStalledWatchers(const StalledWatchOptions& options) {
  if (options.streams < 1 || options.connections < 1 || options.connections > options.streams) {
    return absl::InvalidArgumentError("need 1 <= connections <= streams");
  }
  TempPostgres pg;
  ScopedTempDir dir("keyfleet-stalled-watchers");
  grpc::ChannelArguments admin_args;
  admin_args.SetMaxSendMessageSize(64 << 20);
  admin_args.SetMaxReceiveMessageSize(64 << 20);
  absl::StatusOr<BenchController> controller =
      StartBenchController(options.controller_binary, pg.Url(pg.CreateDatabase()),
                           dir.path().string(), /*mtls=*/true, admin_args);
  if (!controller.ok()) return controller.status();
  const std::string log = dir.path().string() + "/controller.log";
  absl::StatusOr<StalledWatchFigures> figures = RunWithController(options, *controller, log);
  StopProcess(controller->pid);
  if (figures.ok()) {
    // A client that never reads never learns that its stream was reset either (gRPC delivers
    // the status after the unread messages): the controller's log says how many it ended.
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (options.progress && (line.find("Watch stream") != std::string::npos ||
                               line.find("heap") != std::string::npos)) {
        std::fprintf(stderr, "[controller] %s\n", line.c_str());
      }
      int ended = 0;
      const size_t at = line.find("] ended ");
      if (at != std::string::npos &&
          std::sscanf(line.c_str() + at, "] ended %d Watch", &ended) == 1) {
        figures->ended_by_controller += ended;
      }
    }
  }
  return figures;
}

}  // namespace keyfleet::testing
