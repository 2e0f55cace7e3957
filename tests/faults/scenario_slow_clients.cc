// slow-clients: thousands of keys granted to alice and bob on every host, so each host's desired
// state is large; real agents keep up, while a misbehaving client opens hundreds of Watch streams
// that never read (tests/support/stalled_streams.h) over a few dozen TLS connections. Measured:
// the controller's RSS idle, while they are there (and its peak), and after they went; a
// revocation made while they are there must still reach every real agent's file within 5 s, the
// controller's memory must stay bounded (within 100 MiB of idle) and come back once they go.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"
#include "tests/support/admin_setup.h"
#include "tests/support/child_process.h"
#include "tests/support/stalled_streams.h"
#include "tests/support/test_keys.h"
#include "tests/support/tls_fleet.h"

namespace keyfleet::faults {
namespace {

constexpr double kRevokeBound = 5;            // seconds: the real agents' files
constexpr long kGrowthBoundKiB = 100 * 1024;  // the controller's peak over idle
constexpr long kBackWithinKiB = 16 * 1024;    // "back": within this of idle
constexpr auto kBackBound = seconds(15);

std::string MiB(long kib) {
  char out[32];
  std::snprintf(out, sizeof(out), "%.0f MiB", kib / 1024.0);
  return out;
}

// Streams the controller ended as stalled, from its log ("… ended N Watch streams …").
int EndedByController(const std::string& log) {
  std::ifstream in(log);
  int total = 0;
  for (std::string line; std::getline(in, line);) {
    int ended = 0;
    const size_t at = line.find("] ended ");
    if (at != std::string::npos &&
        std::sscanf(line.c_str() + at, "] ended %d Watch", &ended) == 1) {
      total += ended;
    }
  }
  return total;
}

}  // namespace

Report SlowClients(Campaign& c) {
  Report report("slow-clients");
  const int rounds = c.Rounds(2, 1);
  const int streams = c.quick() ? 200 : 1000;
  const int connections = c.quick() ? 20 : 50;
  const int keys = c.quick() ? 1500 : 2700;
  const milliseconds hold = c.quick() ? seconds(4) : seconds(8);
  testing::TempPostgres& pg = c.postgres();
  DeploymentOptions options;
  options.name = "slow-clients";
  options.database = pg.Url(pg.CreateDatabase());
  options.agents = c.quick() ? 2 : 3;
  Deployment d(c, options);
  if (!report.Check(d.Start().ok(), "set-up failed (the reason is on stderr)")) return report;
  v1::AdminService::Stub& admin = d.controller().admin();
  std::vector<std::string> lines;
  for (int i = 0; i < keys; ++i)
    lines.push_back(testing::SyntheticEd25519Line(5000000 + i, "bulk"));
  v1::HostSelector everywhere;
  everywhere.set_hostname_glob("*");
  absl::StatusOr<v1::AddKeysResponse> bulk =
      testing::AddPrincipalWithGrant(admin, "bulk", lines, everywhere, "alice");
  CliResult bob = d.Cli("grant add bulk --hosts '*' --account bob");
  testing::BenchController bench;
  bench.pid = d.controller().pid();
  bench.address = d.controller().address();
  bench.ca_pem = d.controller().ca_pem();
  absl::StatusOr<std::vector<testing::TestHostCredentials>> stall_host =
      bulk.ok() ? testing::EnrollFleet(admin, bench, "stall-", 1, {})
                : absl::StatusOr<std::vector<testing::TestHostCredentials>>(bulk.status());
  if (!report.Check(
          bulk.ok() && bob.exit_code == 0 && stall_host.ok(),
          "set-up failed: " + (stall_host.ok() ? bob.err : stall_host.status().ToString())) ||
      !report.Check(AllConverged(d.WaitAgentsConverged(Clock::now(), seconds(30))),
                    "the agents did not get the keys before the faults")) {
    return report;
  }
  const size_t state_bytes = d.agent(0).File("alice").size() + d.agent(0).File("bob").size();
  std::this_thread::sleep_for(seconds(1));
  const long idle = testing::ReadMemoryUse(d.controller().pid()).rss_kib;

  long peak = idle, with_streams = 0, after = 0;
  std::vector<double> revoke_each, back_each;
  int opened = 0;
  for (int r = 0; r < rounds; ++r) {
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": ", streams,
                            " streams that never read over ", connections, " connections"));
    grpc::ChannelArguments stalled_args;
    stalled_args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    testing::FleetConnection connection = testing::ConnectFleet(
        bench, std::vector<testing::TestHostCredentials>(connections, (*stall_host)[0]),
        stalled_args);
    if (!report.Check(connection.connected == connections,
                      absl::StrCat("only ", connection.connected, " of ", connections,
                                   " stalled connections were made"))) {
      break;
    }
    testing::StalledStreams stalled(std::move(connection.channels));
    stalled.Open(streams);
    opened += stalled.opened();
    const auto held_from = Clock::now();
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      while (sampling) {
        peak = std::max(peak, testing::ReadMemoryUse(d.controller().pid()).rss_kib);
        std::this_thread::sleep_for(milliseconds(100));
      }
    });
    std::this_thread::sleep_for(hold / 2);
    with_streams = std::max(with_streams, testing::ReadMemoryUse(d.controller().pid()).rss_kib);
    // A revocation while they are there: every host's state changes, the stalled ones' too.
    const auto revoked_at = Clock::now();
    CliResult revoked =
        d.Cli(absl::StrCat("key revoke ", bulk->keys(r).fingerprint(), " --reason fault-campaign"));
    report.Check(revoked.exit_code == 0, "the revocation failed: " + revoked.err);
    const std::vector<double> gone = d.WaitAgentsConverged(revoked_at, seconds(10));
    const double slowest = AllConverged(gone) ? *std::max_element(gone.begin(), gone.end()) : -1;
    report.Check(slowest >= 0 && slowest <= kRevokeBound,
                 absl::StrCat("round ", r + 1,
                              ": the revocation did not reach every real agent "
                              "within ",
                              kRevokeBound, " s (", Secs(slowest), ")"));
    revoke_each.push_back(slowest);
    std::this_thread::sleep_until(held_from + hold);
    sampling = false;
    sampler.join();
    const auto gone_at = Clock::now();
    report.Check(stalled.Close(), "a stalled stream did not end within 30 s of its cancel");
    double back = -1;
    WaitFor(
        [&] {
          after = testing::ReadMemoryUse(d.controller().pid()).rss_kib;
          if (after > idle + kBackWithinKiB) return false;
          back = SecondsSince(gone_at);
          return true;
        },
        kBackBound, milliseconds(100));
    report.Check(back >= 0, absl::StrCat("round ", r + 1, ": the controller's RSS stayed at ",
                                         MiB(after), " (idle ", MiB(idle), ")"));
    back_each.push_back(back);
  }
  report.Check(peak - idle <= kGrowthBoundKiB,
               absl::StrCat("the controller grew by ", MiB(peak - idle), " (bound ",
                            MiB(kGrowthBoundKiB), ")"));
  report.Check(d.controller().Alive(), "the controller exited");
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() || std::count(v.begin(), v.end(), -1.0) > 0
               ? -1
               : *std::max_element(v.begin(), v.end());
  };
  report.Figure(absl::StrCat(
      "rounds ", revoke_each.size(), ", ", opened, " streams that never read in all (", streams,
      " a round over ", connections, " connections; ", state_bytes / 1000,
      " KB of keys a host), controller RSS idle ", MiB(idle), ", with them ", MiB(with_streams),
      " (+", MiB(with_streams - idle), ", peak +", MiB(peak - idle), "), after ", MiB(after),
      " (back within ", Secs(max_of(back_each)), "), revoke on every real agent's file in ",
      Secs(max_of(revoke_each)), " (max), stalled streams ended by the controller ",
      EndedByController(d.controller().options().log)));
  return report;
}

}  // namespace keyfleet::faults
