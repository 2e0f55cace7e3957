// postgres-failover: a primary with a synchronous streaming standby (tests/support's
// TempPostgresStandby), the controller on a connection string naming both
// (target_session_attrs=read-write), agents and CLI writers. Each round, with a fresh pair, the
// primary is crashed (immediate stop) under load and the standby promoted after a random
// leaderless pause: nothing acknowledged may be missing on the promoted server, a failure that
// did not say the outcome is unknown must have left nothing, mutations are acknowledged again
// within a bound of the promotion, the agents move to the new epoch and converge, and the audit
// chain verifies.
#include <algorithm>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"
#include "tests/support/temp_postgres_standby.h"

namespace keyfleet::faults {
namespace {

constexpr double kResumeBound = 10;  // seconds after the promotion

struct RoundFigures {
  bool set_up = false;
  LoadFigures load;
  AuditCheck audit;
  double resumed = -1;      // first acknowledgement after the promotion
  double epoch_moved = -1;  // every agent's file on the new epoch, after the promotion
  double leaderless = 0;    // crash to promoted
  std::vector<double> converged;
};

RoundFigures OneFailover(Campaign& c, int round, Report& report) {
  RoundFigures f;
  c.Progress(absl::StrCat("round ", round, ": a primary and its synchronous standby"));
  testing::TempPostgres primary;
  const std::string database = primary.CreateDatabase();
  testing::TempPostgresStandby standby(primary);
  DeploymentOptions options;
  options.name = "postgres-failover";
  options.database = testing::FailoverUrl(primary, standby, database);
  options.agents = c.quick() ? 2 : 3;
  Deployment d(c, options);
  if (!d.StartWithAlice(report, 2)) return f;
  f.set_up = true;
  const std::string epoch_before = MarkerEpoch(d.agent(0).File());

  MutationLoad load(d.Load(absl::StrCat("pf", round), 3));
  load.Start();
  WaitFor([&] { return load.Acknowledged() >= 10; }, seconds(30));
  std::this_thread::sleep_for(c.UniformMs(300, 1500));
  const auto leaderless = c.UniformMs(300, 1500);
  c.Progress(absl::StrCat("round ", round, ": primary crashed with ", load.InFlight(),
                          " calls in flight; promoting the standby after ", leaderless.count(),
                          " ms"));
  const auto crashed_at = Clock::now();
  primary.Stop(/*immediate=*/true);
  std::this_thread::sleep_for(leaderless);
  standby.Promote();
  const auto promoted_at = Clock::now();
  f.leaderless = SecondsBetween(crashed_at, promoted_at);
  std::optional<Clock::time_point> first;
  WaitFor([&] { return (first = load.FirstAcknowledgedStartedAfter(crashed_at)).has_value(); },
          seconds(static_cast<int>(kResumeBound) + 5));
  f.resumed = first ? SecondsBetween(promoted_at, *first) : -1;
  report.Check(first && f.resumed <= kResumeBound,
               absl::StrCat("round ", round, ": no mutation acknowledged within ", kResumeBound,
                            " s of the promotion (", Secs(f.resumed), ")"));
  WaitFor(
      [&] {
        for (FleetAgent* a : d.agents()) {
          const std::string epoch = MarkerEpoch(a->File());
          if (epoch.empty() || epoch == epoch_before) return false;
        }
        f.epoch_moved = SecondsSince(promoted_at);
        return true;
      },
      seconds(20));
  report.Check(f.epoch_moved >= 0, absl::StrCat("round ", round,
                                                ": not every agent's file is on the promoted "
                                                "server's epoch 20 s after the promotion"));
  std::this_thread::sleep_for(milliseconds(1500));
  load.Stop();
  const auto stopped_at = Clock::now();
  try {
    // Read from the promoted server alone: nothing acknowledged may be missing there.
    f.load = VerifyLoad(load.ops(), standby.Url(database));
  } catch (const std::exception& e) {
    report.Check(false, std::string("cannot read the promoted server: ") + e.what());
  }
  f.audit = VerifyAudit(c.options().cli_binary, d.controller().address(), d.site(), d.dir());
  f.converged = d.WaitAgentsConverged(stopped_at, seconds(20));
  return f;
}

}  // namespace

Report PostgresFailover(Campaign& c) {
  Report report("postgres-failover");
  const int rounds = c.Rounds(2, 1);
  LoadFigures load;
  std::vector<double> resumed, epoch_moved, leaderless, converged;
  int audits_intact = 0, agents = 0, agents_converged = 0, done = 0;
  for (int r = 1; r <= rounds; ++r) {
    const RoundFigures f = OneFailover(c, r, report);
    if (!f.set_up) break;
    ++done;
    load.Add(f.load);
    resumed.push_back(f.resumed);
    epoch_moved.push_back(f.epoch_moved);
    leaderless.push_back(f.leaderless);
    if (report.Check(f.audit.intact, absl::StrCat("round ", r, ": ", f.audit.detail))) {
      ++audits_intact;
    }
    for (double s : f.converged) {
      ++agents;
      if (s >= 0) {
        ++agents_converged;
        converged.push_back(s);
      }
    }
  }
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() || std::count(v.begin(), v.end(), -1.0) > 0
               ? -1
               : *std::max_element(v.begin(), v.end());
  };
  report.Figure(
      absl::StrCat("rounds ", done, ", crash to promotion up to ", Secs(max_of(leaderless))));
  ReportLoad(load, report);
  report.Figure(absl::StrCat("first mutation acknowledged ", Secs(max_of(resumed)),
                             " after the promotion (max), agents on the new epoch ",
                             Secs(max_of(epoch_moved)), " after it (max)"));
  report.Figure(absl::StrCat("audit chain intact ", audits_intact, "/", done));
  report.Figure(absl::StrCat("agents converged ", agents_converged, "/", agents, " in ",
                             Secs(max_of(converged)), " (max) after the load"));
  report.Check(agents_converged == agents,
               "some agents do not hold what the promoted server grants 20 s after the load");
  return report;
}

}  // namespace keyfleet::faults
