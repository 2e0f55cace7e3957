// replica-kill: three replicas on one database, agents given all three addresses (each shuffles
// them, so they spread), CLI writers spread over the three. Each round kills -9 the replica most
// agents watch: each of its agents must watch another within 5 s (the agent's "watching
// controller" log line), the victim is restarted, and a revocation through a survivor must reach
// every host's file within 5 s. Then the load is checked as in controller-kill9.
#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"
#include "tests/support/test_keys.h"

namespace keyfleet::faults {
namespace {

constexpr double kFailoverBound = 5;  // seconds: the target
constexpr double kRevokeBound = 5;

}  // namespace

Report ReplicaKill(Campaign& c) {
  Report report("replica-kill");
  const int rounds = c.Rounds(3, 1);
  testing::TempPostgres& pg = c.postgres();
  DeploymentOptions options;
  options.name = "replica-kill";
  options.database = pg.Url(pg.CreateDatabase());
  options.replicas = 3;
  options.agents = c.quick() ? 4 : 6;
  Deployment d(c, options);
  v1::AddKeysResponse alice;
  if (!d.StartWithAlice(report, rounds + 1, &alice)) return report;

  MutationLoad load(d.Load("rk", 2));
  load.Start();
  WaitFor([&] { return load.Acknowledged() >= 6; }, seconds(30));
  std::vector<double> moved_each, revoke_each, back;
  int on_victims = 0;
  for (int r = 0; r < rounds; ++r) {
    std::this_thread::sleep_for(c.UniformMs(300, 1500));
    // The victim: the replica most agents watch now.
    std::map<std::string, std::vector<FleetAgent*>> watchers;
    std::map<FleetAgent*, int> lines_before;
    for (FleetAgent* a : d.agents()) {
      const auto [address, lines] = a->Watching();
      watchers[address].push_back(a);
      lines_before[a] = lines;
    }
    int victim = 0;
    for (int i = 1; i < d.replicas(); ++i) {
      if (watchers[d.addresses()[i]].size() > watchers[d.addresses()[victim]].size()) victim = i;
    }
    const std::string victim_address = d.addresses()[victim];
    const std::vector<FleetAgent*> moving = watchers[victim_address];
    on_victims += static_cast<int>(moving.size());
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": kill -9 ", victim_address,
                            ", watched by ", moving.size(), " of ", d.agents().size(), " agents"));
    const auto killed_at = Clock::now();
    d.controller(victim).Kill9();
    std::vector<double> moved(moving.size(), -1);
    WaitFor(
        [&] {
          bool all = true;
          for (size_t i = 0; i < moving.size(); ++i) {
            if (moved[i] >= 0) continue;
            const auto [address, lines] = moving[i]->Watching();
            if (lines > lines_before[moving[i]] && address != victim_address) {
              moved[i] = SecondsSince(killed_at);
            } else {
              all = false;
            }
          }
          return all;
        },
        seconds(10), milliseconds(10));
    for (size_t i = 0; i < moving.size(); ++i) {
      report.Check(moved[i] >= 0 && moved[i] <= kFailoverBound,
                   absl::StrCat("round ", r + 1, ": ", moving[i]->hostname(),
                                " was not watching another replica within ", kFailoverBound, " s (",
                                Secs(moved[i]), ")"));
      moved_each.push_back(moved[i]);
    }
    absl::StatusOr<double> up = d.controller(victim).Start();
    if (!report.Check(up.ok(),
                      "the killed replica did not start again: " + up.status().ToString())) {
      break;
    }
    back.push_back(*up);

    // A revocation through a survivor reaches every host.
    const int survivor = (victim + 1) % d.replicas();
    const std::string fingerprint = alice.keys(r).fingerprint();
    const std::string blob = BlobOf(testing::SyntheticEd25519Line(r + 1));
    const auto revoked_at = Clock::now();
    CliResult revoked = d.Cli("key revoke " + fingerprint + " --reason fault-campaign", survivor);
    report.Check(revoked.exit_code == 0,
                 "the revocation through a survivor failed: " + revoked.err);
    std::vector<double> gone(d.agents().size(), -1);
    WaitFor(
        [&] {
          bool all = true;
          for (size_t i = 0; i < gone.size(); ++i) {
            if (gone[i] >= 0) continue;
            const auto blobs = ManagedBlobs(d.agents()[i]->File());
            if (blobs && blobs->count(blob) == 0) {
              gone[i] = SecondsSince(revoked_at);
            } else {
              all = false;
            }
          }
          return all;
        },
        seconds(10), milliseconds(10));
    const double slowest = *std::max_element(gone.begin(), gone.end());
    const bool everywhere = AllConverged(gone);
    report.Check(
        everywhere && slowest <= kRevokeBound,
        absl::StrCat("round ", r + 1, ": the revocation reached ",
                     std::count_if(gone.begin(), gone.end(), [](double s) { return s >= 0; }), "/",
                     gone.size(), " hosts, the slowest after ", Secs(everywhere ? slowest : -1)));
    revoke_each.push_back(everywhere ? slowest : -1);
  }
  std::this_thread::sleep_for(milliseconds(500));
  c.Progress("stopping the load");
  load.Stop();
  const auto stopped_at = Clock::now();

  auto max_of = [](const std::vector<double>& v) {
    return v.empty() ? -1 : *std::max_element(v.begin(), v.end());
  };
  const size_t moved_in_time = std::count_if(
      moved_each.begin(), moved_each.end(), [](double s) { return s >= 0 && s <= kFailoverBound; });
  report.Figure(absl::StrCat("rounds ", back.size(),
                             ", agents of the killed replica watching "
                             "another within 5 s ",
                             moved_in_time, "/", on_victims, " (max ", Secs(max_of(moved_each)),
                             "), revoke through a survivor on every host in ",
                             Secs(max_of(revoke_each)), " (max), replica back in ",
                             Secs(max_of(back))));
  d.CheckAfterLoad(load.ops(), stopped_at, report);
  return report;
}

}  // namespace keyfleet::faults
