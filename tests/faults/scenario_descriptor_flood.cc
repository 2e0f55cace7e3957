// descriptor-flood: the controller runs under a hard limit of 256 open files (prlimit; it raises
// its soft limit to the hard one), with agents connected. Each round one agent is stopped, the
// port is flooded with idle TCP connections until the controller logs that accepting failed
// ("Too many open files"), and meanwhile the stopped agent is started again (it cannot get in)
// and a key is revoked over an admin connection made before the flood. Then the flood goes: the
// CLI must be served again within 3 s and the restarted agent must be watching and hold the
// revocation within 5 s; the agent that stayed connected must hold it too.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"
#include "tests/support/test_keys.h"

namespace keyfleet::faults {
namespace {

constexpr int kOpenFileLimit = 256;
constexpr int kMaxIdleConnections = 400;  // the flood stops at the first accept failure
constexpr auto kFloodHeld = milliseconds(1500);
constexpr double kCliBound = 3;    // seconds after the flood went
constexpr double kAgentBound = 5;  // seconds after the flood went

// A TCP connection to "127.0.0.1:PORT" that sends nothing; -1 on failure.
int ConnectIdle(const std::string& address) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

Report DescriptorFlood(Campaign& c) {
  Report report("descriptor-flood");
  const int rounds = c.Rounds(3, 1);
  testing::TempPostgres& pg = c.postgres();
  DeploymentOptions options;
  options.name = "descriptor-flood";
  options.database = pg.Url(pg.CreateDatabase());
  options.agents = 2;
  options.open_file_limit = kOpenFileLimit;
  Deployment d(c, options);
  v1::AddKeysResponse alice;
  if (!d.StartWithAlice(report, rounds + 1, &alice)) return report;
  Controller& controller = d.controller();
  FleetAgent& stayed = d.agent(0);
  FleetAgent& restarted = d.agent(1);

  std::vector<double> cli_back, agent_back, during_revoke;
  int floods = 0, max_connections = 0, revoked_during = 0, cli_refused_during = 0;
  int agent_in_during = 0;  // the restarted agent got in while the flood held the descriptors
  for (int r = 0; r < rounds; ++r) {
    restarted.Stop();
    const int failures_before = CountOf(ReadFile(controller.options().log), "Too many open files");
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": flooding ", controller.address()));
    std::vector<int> idle;
    bool exhausted = false;
    while (static_cast<int>(idle.size()) < kMaxIdleConnections && !exhausted) {
      const int fd = ConnectIdle(controller.address());
      if (fd < 0) break;
      idle.push_back(fd);
      if (idle.size() % 16 == 0) {
        std::this_thread::sleep_for(milliseconds(50));  // let the controller accept them
        exhausted =
            CountOf(ReadFile(controller.options().log), "Too many open files") > failures_before;
      }
    }
    WaitFor(
        [&] {
          return CountOf(ReadFile(controller.options().log), "Too many open files") >
                 failures_before;
        },
        seconds(5), milliseconds(100));
    exhausted =
        CountOf(ReadFile(controller.options().log), "Too many open files") > failures_before;
    if (!report.Check(exhausted, absl::StrCat("round ", r + 1, ": ", idle.size(),
                                              " idle connections and no accept failure"))) {
      for (int fd : idle) close(fd);
      break;
    }
    ++floods;
    max_connections = std::max(max_connections, static_cast<int>(idle.size()));
    // While flooded: the stopped agent comes back (and cannot get in), a new CLI cannot get in,
    // and a revocation goes over a connection made before the flood.
    const int watching_before = restarted.Watching().second;
    report.Check(restarted.Start(d.addresses()).ok(), "the agent did not start again");
    const std::string blob = BlobOf(testing::SyntheticEd25519Line(r + 1));
    const auto revoke_at = Clock::now();
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::RevokeKeyRequest req;
      req.set_fingerprint(alice.keys(r).fingerprint());
      req.set_reason("fault-campaign");
      v1::MutationResponse resp;
      revoked_during += controller.admin().RevokeKey(&ctx, req, &resp).ok() ? 1 : 0;
    }
    const bool stayed_got_it = WaitFor(
        [&] {
          const auto blobs = ManagedBlobs(stayed.File());
          return blobs && blobs->count(blob) == 0;
        },
        milliseconds(1000), milliseconds(10));
    if (stayed_got_it) during_revoke.push_back(SecondsSince(revoke_at));
    cli_refused_during += d.Cli("principal list", 0, 2).exit_code != 0 ? 1 : 0;
    std::this_thread::sleep_until(revoke_at + kFloodHeld);
    agent_in_during += restarted.Watching().second > watching_before ? 1 : 0;

    for (int fd : idle) close(fd);
    const auto released_at = Clock::now();
    double cli = -1;
    WaitFor(
        [&] {
          if (d.Cli("principal list", 0, 3).exit_code != 0) return false;
          cli = SecondsSince(released_at);
          return true;
        },
        seconds(8), milliseconds(100));
    report.Check(cli >= 0 && cli <= kCliBound,
                 absl::StrCat("round ", r + 1, ": the CLI was not served within ", kCliBound,
                              " s of the flood going (", Secs(cli), ")"));
    cli_back.push_back(cli);
    double agent = -1;
    WaitFor(
        [&] {
          const auto blobs = ManagedBlobs(restarted.File());
          if (restarted.Watching().second <= watching_before || !blobs || blobs->count(blob) > 0) {
            return false;
          }
          agent = SecondsSince(released_at);
          return true;
        },
        seconds(10), milliseconds(20));
    report.Check(agent >= 0 && agent <= kAgentBound,
                 absl::StrCat("round ", r + 1,
                              ": the restarted agent was not watching and "
                              "holding the revocation within ",
                              kAgentBound, " s of the flood going (", Secs(agent), ")"));
    agent_back.push_back(agent);
  }
  report.Check(controller.Alive(), "the controller exited");
  const std::vector<double> converged = d.WaitAgentsConverged(Clock::now(), seconds(10));
  report.Check(AllConverged(converged), "the agents do not hold what the database grants");
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() || std::count(v.begin(), v.end(), -1.0) > 0
               ? -1
               : *std::max_element(v.begin(), v.end());
  };
  report.Figure(absl::StrCat(
      "rounds ", floods, ", descriptors exhausted (hard limit ", kOpenFileLimit, ") by up to ",
      max_connections, " idle connections, during the flood: a new CLI refused ",
      cli_refused_during, "/", floods, ", the restarted agent got in ", agent_in_during, "/",
      floods, ", revoke over an earlier connection ok ", revoked_during, "/", floods,
      " and on the connected agent's file ", during_revoke.size(), "/", floods,
      "; after it: CLI served in ", Secs(max_of(cli_back)),
      ", restarted agent watching with the "
      "revocation in ",
      Secs(max_of(agent_back)), " (max)"));
  report.Figure(ConvergedFigure(converged));
  return report;
}

}  // namespace keyfleet::faults
