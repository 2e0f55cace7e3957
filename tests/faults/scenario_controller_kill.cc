// controller-kill9: CLI writers add principals, keys and grants (each with its request id) while
// the only controller is killed with SIGKILL at random moments and restarted after a random
// pause. Afterwards: every acknowledged mutation is in the database, a failure that did not say
// the outcome is unknown left nothing, nothing is there twice, the audit chain verifies, and
// every agent holds exactly what the database grants.
#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"

namespace keyfleet::faults {

Report ControllerKill9(Campaign& c) {
  Report report("controller-kill9");
  const int rounds = c.Rounds(5, 1);
  testing::TempPostgres& pg = c.postgres();
  DeploymentOptions options;
  options.name = "controller-kill9";
  options.database = pg.Url(pg.CreateDatabase());
  options.agents = c.quick() ? 2 : 6;
  Deployment d(c, options);
  if (!d.StartWithAlice(report, 2)) return report;

  MutationLoad load(d.Load("k9", 3));
  load.Start();
  WaitFor([&] { return load.Acknowledged() >= 10; }, seconds(30));
  std::vector<double> back, resumed, agents_back_each;
  for (int r = 0; r < rounds; ++r) {
    std::this_thread::sleep_for(c.quick() ? c.UniformMs(300, 1000) : c.UniformMs(500, 2500));
    const auto pause = c.UniformMs(0, 500);
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": kill -9 with ", load.InFlight(),
                            " calls in flight; restart after ", pause.count(), " ms"));
    std::vector<int> watching_before;
    for (FleetAgent* a : d.agents()) watching_before.push_back(a->Watching().second);
    const auto killed_at = Clock::now();
    d.controller().Kill9();
    std::this_thread::sleep_for(pause);
    absl::StatusOr<double> up = d.controller().Start();
    if (!report.Check(up.ok(), "the controller did not start again: " + up.status().ToString())) {
      break;
    }
    back.push_back(*up);
    const auto up_at = Clock::now();
    // Every agent watching again (a new "watching controller" line in its log).
    double agents_back = -1;
    WaitFor(
        [&] {
          for (size_t i = 0; i < d.agents().size(); ++i) {
            if (d.agents()[i]->Watching().second <= watching_before[i]) return false;
          }
          agents_back = SecondsSince(up_at);
          return true;
        },
        seconds(10), milliseconds(10));
    report.Check(agents_back >= 0, absl::StrCat("round ", r + 1,
                                                ": not every agent was watching again within "
                                                "10 s of the restart"));
    agents_back_each.push_back(agents_back);
    std::optional<Clock::time_point> first;
    WaitFor([&] { return (first = load.FirstAcknowledgedStartedAfter(killed_at)).has_value(); },
            seconds(15));
    report.Check(first.has_value(), absl::StrCat("round ", r + 1,
                                                 ": no mutation acknowledged within 15 s of the "
                                                 "restart"));
    resumed.push_back(first ? SecondsBetween(killed_at, *first) : -1);
  }
  std::this_thread::sleep_for(milliseconds(1000));
  c.Progress("stopping the load");
  load.Stop();
  const auto stopped_at = Clock::now();

  report.Figure(absl::StrCat("rounds ", back.size()));
  d.CheckAfterLoad(load.ops(), stopped_at, report);
  const double max_back = back.empty() ? -1 : *std::max_element(back.begin(), back.end());
  const double max_resumed =
      resumed.empty() ? -1 : *std::max_element(resumed.begin(), resumed.end());
  const bool agents_back_all =
      std::count(agents_back_each.begin(), agents_back_each.end(), -1.0) == 0;
  const double max_agents_back =
      agents_back_each.empty() || !agents_back_all
          ? -1
          : *std::max_element(agents_back_each.begin(), agents_back_each.end());
  report.Figure(absl::StrCat("controller back in ", Secs(max_back),
                             " (max: start to first answer), every agent watching again ",
                             Secs(max_agents_back),
                             " after that (max), next mutation "
                             "acknowledged ",
                             Secs(max_resumed), " after a kill (max)"));
  return report;
}

}  // namespace keyfleet::faults
