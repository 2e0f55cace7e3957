// The fault campaign (issue 15): real keyfleet binaries on loopback, broken one way per scenario,
// each printing what was acknowledged, what survived, what converged and how long it took.
//
//   fault_campaign [--scenario NAME]... [--rounds N] [--quick] [--seed N] [--keep] [--list]
//
// --keep keeps the working directory (logs of every process, the CLI's failures) when all is
// well too.
// Exit 0 when every invariant held, 1 when one broke (the block says which; the logs are kept),
// 2 for usage errors, 3 when a scenario ran past its time bound. See README.md here.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/runtime_setup.h"
#include "tests/faults/harness.h"
#include "tests/faults/scenarios.h"

namespace keyfleet::faults {
namespace {

struct Scenario {
  const char* name;
  Report (*run)(Campaign&);
  const char* what;
  int bound_seconds;  // full run; the quick one gets a third
};

const Scenario kScenarios[] = {
    {"controller-kill9", ControllerKill9,
     "kill -9 the controller under CLI mutation load, restart it", 300},
    {"replica-kill", ReplicaKill, "kill -9 one of three replicas; agents fail over, revoke", 300},
    {"postgres-restart", PostgresRestart, "PostgreSQL immediate stop and start under load", 300},
    {"postgres-failover", PostgresFailover,
     "the primary crashes, its synchronous standby is promoted under load", 400},
    {"agent-kill9", AgentKill9, "kill -9 agents while a large change is applied", 300},
    {"slow-clients", SlowClients, "Watch streams that never read beside real agents", 300},
    {"descriptor-flood", DescriptorFlood,
     "the controller under a low descriptor limit, flooded with idle connections", 300},
};

int Usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "fault_campaign: %s\n", error);
  std::fprintf(stderr,
               "usage: fault_campaign [--scenario NAME]... [--rounds N] [--quick] [--seed N] "
               "[--keep] [--list]\n");
  return 2;
}

int Main(int argc, char** argv) {
  CampaignOptions options;
  options.controller_binary = KEYFLEET_CONTROLLER;
  options.agent_binary = KEYFLEET_AGENT;
  options.cli_binary = KEYFLEET_CLI;
  options.prlimit_binary = KEYFLEET_PRLIMIT;
  options.seed =
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count() ^ getpid());
  std::vector<const Scenario*> chosen;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--keep") {
      keep = true;
    } else if (arg == "--list") {
      for (const Scenario& s : kScenarios) std::printf("%-18s %s\n", s.name, s.what);
      return 0;
    } else if (arg == "--scenario" && has_value) {
      const std::string name = argv[++i];
      const Scenario* found = nullptr;
      for (const Scenario& s : kScenarios) {
        if (name == s.name) found = &s;
      }
      if (found == nullptr) return Usage(("no scenario " + name + " (see --list)").c_str());
      chosen.push_back(found);
    } else if (arg == "--rounds" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &options.rounds) || options.rounds < 1 ||
          options.rounds > 100) {
        return Usage("--rounds takes 1 to 100");
      }
    } else if (arg == "--seed" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &options.seed)) return Usage("--seed takes a number");
    } else {
      return Usage(("unknown argument " + arg).c_str());
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "fault_campaign: run it as root (agents write files owned by users)\n");
    return 2;
  }
  if (chosen.empty()) {
    for (const Scenario& s : kScenarios) chosen.push_back(&s);
  }
  RaiseOpenFileLimit();

  Workspace workspace;
  Campaign campaign(options, workspace);
  std::printf(
      "fault campaign: %zu scenario(s), %s, seed %llu, controllers on TLS and agents on "
      "mutual TLS (no --insecure-dev), working in %s\n",
      chosen.size(), options.quick ? "quick" : "full",
      static_cast<unsigned long long>(options.seed), workspace.path().c_str());
  std::fflush(stdout);
  const auto start = Clock::now();
  int broken = 0;
  for (const Scenario* s : chosen) {
    campaign.BeginScenario(s->name);
    const auto scenario_start = Clock::now();
    HangGuard guard(s->name, seconds(options.quick ? s->bound_seconds / 3 : s->bound_seconds),
                    workspace.path());
    const Report report = s->run(campaign);
    std::printf("%s", report.Render(SecondsSince(scenario_start)).c_str());
    std::fflush(stdout);
    if (!report.ok()) ++broken;
  }
  campaign.BeginScenario("");
  if (broken > 0 || keep) workspace.Keep();
  std::printf("fault campaign: %zu scenario(s), %d broken, took %s\n", chosen.size(), broken,
              Secs(SecondsSince(start)).c_str());
  return broken > 0 ? 1 : 0;
}

}  // namespace
}  // namespace keyfleet::faults

int main(int argc, char** argv) {
  return keyfleet::faults::Main(argc, argv);
}
