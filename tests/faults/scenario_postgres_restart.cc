// postgres-restart: under CLI mutation load, PostgreSQL is stopped like a crash (pg_ctl -m
// immediate) and started again after a random outage. During the outage every agent's file must
// stay exactly as it was (the agents keep enforcing their last state; nothing is removed because
// the controller's database is gone); after it, mutations are acknowledged again (time to the
// first), every acknowledged mutation is there, and the agents converge on what the database
// grants.
#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"

namespace keyfleet::faults {
namespace {

// Mutations must be acknowledged again within this of PostgreSQL accepting connections.
constexpr double kResumeBound = 10;

}  // namespace

Report PostgresRestart(Campaign& c) {
  Report report("postgres-restart");
  const int rounds = c.Rounds(3, 1);
  testing::TempPostgres& pg = c.postgres();
  DeploymentOptions options;
  options.name = "postgres-restart";
  options.database = pg.Url(pg.CreateDatabase());
  options.agents = c.quick() ? 2 : 4;
  Deployment d(c, options);
  if (!d.StartWithAlice(report, 2)) return report;

  MutationLoad load(d.Load("pr", 3));
  load.Start();
  WaitFor([&] { return load.Acknowledged() >= 10; }, seconds(30));
  std::vector<double> outages, resumed_after_start, resumed_after_stop;
  int files_changed = 0, files_watched = 0;
  for (int r = 0; r < rounds; ++r) {
    std::this_thread::sleep_for(c.UniformMs(500, 2000));
    const auto outage = c.UniformMs(1500, c.quick() ? 2000 : 4000);
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": PostgreSQL immediate stop for ",
                            outage.count(), " ms with ", load.InFlight(), " calls in flight"));
    const auto stopped_at = Clock::now();
    pg.Stop(/*immediate=*/true);
    // What was committed before the stop reaches the agents within moments; from then on
    // nothing may change their files until PostgreSQL is back.
    std::this_thread::sleep_for(milliseconds(500));
    std::vector<std::string> before;
    for (FleetAgent* a : d.agents()) before.push_back(a->File());
    std::vector<bool> changed(before.size(), false);
    const auto outage_end = stopped_at + outage;
    while (Clock::now() < outage_end) {
      for (size_t i = 0; i < before.size(); ++i) {
        changed[i] = changed[i] || d.agents()[i]->File() != before[i];
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    files_watched += static_cast<int>(before.size());
    files_changed += static_cast<int>(std::count(changed.begin(), changed.end(), true));
    pg.Start();
    const auto started_at = Clock::now();
    outages.push_back(SecondsBetween(stopped_at, started_at));
    // The first acknowledgement that needed the database back (its call started during the
    // outage or after).
    std::optional<Clock::time_point> first;
    WaitFor([&] { return (first = load.FirstAcknowledgedStartedAfter(stopped_at)).has_value(); },
            seconds(static_cast<int>(kResumeBound) + 5));
    const double after_start = first ? SecondsBetween(started_at, *first) : -1;
    report.Check(first && after_start <= kResumeBound,
                 absl::StrCat("round ", r + 1, ": no mutation acknowledged within ", kResumeBound,
                              " s of PostgreSQL's start (", Secs(after_start), ")"));
    resumed_after_start.push_back(after_start);
    resumed_after_stop.push_back(first ? SecondsBetween(stopped_at, *first) : -1);
  }
  std::this_thread::sleep_for(milliseconds(1000));
  c.Progress("stopping the load");
  load.Stop();
  const auto load_stopped_at = Clock::now();

  auto max_of = [](const std::vector<double>& v) {
    return v.empty() ? -1 : *std::max_element(v.begin(), v.end());
  };
  report.Figure(absl::StrCat(
      "rounds ", outages.size(), ", outages up to ", Secs(max_of(outages)),
      ", agents' files unchanged during the outage ", files_watched - files_changed, "/",
      files_watched, ", first mutation acknowledged ", Secs(max_of(resumed_after_start)),
      " after PostgreSQL was back (max; ", Secs(max_of(resumed_after_stop)), " after the stop)"));
  report.Check(files_changed == 0,
               absl::StrCat(files_changed, " agents' files changed while PostgreSQL was down"));
  d.CheckAfterLoad(load.ops(), load_stopped_at, report);
  report.Check(d.controller().Alive(), "the controller exited");
  return report;
}

}  // namespace keyfleet::faults
