// agent-kill9: every agent's alice file holds the user's own lines plus a managed block of
// thousands of keys; each round a grant of thousands more keys is added or removed (a large
// change on every host) and each agent is killed with SIGKILL at its own random moment within
// the time such a change takes to apply, so some die mid-write. Before any restart each file is
// parsed: its managed block must be intact (its hash matches) and be exactly the old state or
// the new one, never a mix or a cut, and the user's lines must be there byte for byte. The agents
// are then restarted and must converge on the new state; the leftovers of interrupted writes
// must be gone.
#include <dirent.h>

#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node-agent/managed_block.h"
#include "node-agent/posix/safe_fs.h"
#include "tests/faults/deployment.h"
#include "tests/faults/scenarios.h"
#include "tests/support/admin_setup.h"
#include "tests/support/test_keys.h"

namespace keyfleet::faults {
namespace {

constexpr double kConvergeBound = 10;  // seconds after the restart

// The temporary files interrupted writes left in DIR.
int TempFiles(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) n += absl::StartsWith(e->d_name, agent::kTempPrefix);
    closedir(d);
  }
  return n;
}

std::vector<std::string> KeyLines(uint64_t first, int count, const std::string& comment) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i)
    lines.push_back(testing::SyntheticEd25519Line(first + i, comment));
  return lines;
}

std::set<std::string> Blobs(const std::vector<std::string>& lines) {
  std::set<std::string> out;
  for (const std::string& l : lines) out.insert(BlobOf(l));
  return out;
}

absl::StatusOr<std::string> AddGrant(v1::AdminService::Stub& admin, const std::string& principal) {
  grpc::ClientContext ctx;
  v1::AddGrantRequest req;
  req.mutable_grant()->set_principal(principal);
  *req.mutable_grant()->mutable_hosts() = testing::LabelSelector("env", "prod");
  req.mutable_grant()->set_account("alice");
  v1::AddGrantResponse resp;
  grpc::Status s = admin.AddGrant(&ctx, req, &resp);
  if (!s.ok()) return absl::UnavailableError("AddGrant: " + s.error_message());
  return resp.grant().id();
}

absl::Status RemoveGrant(v1::AdminService::Stub& admin, const std::string& id) {
  grpc::ClientContext ctx;
  v1::RemoveGrantRequest req;
  req.set_id(id);
  v1::MutationResponse resp;
  grpc::Status s = admin.RemoveGrant(&ctx, req, &resp);
  return s.ok() ? absl::OkStatus() : absl::UnavailableError("RemoveGrant: " + s.error_message());
}

}  // namespace

Report AgentKill9(Campaign& c) {
  Report report("agent-kill9");
  const int rounds = c.Rounds(20, 4);
  const int keys = c.quick() ? 1000 : 2000;
  const std::string users_own = "# alice's own keys: keyfleet keeps these lines\n" +
                                testing::SyntheticEd25519Line(9000000, "alice@laptop") + "\n";
  DeploymentOptions options;
  options.name = "agent-kill9";
  testing::TempPostgres& pg = c.postgres();
  options.database = pg.Url(pg.CreateDatabase());
  options.agents = c.quick() ? 2 : 3;
  options.before_agent_start = [&](FleetAgent& a) {
    a.sandbox().Mkdir("home/alice/.ssh", 0700, agent::testing::kAlice);
    a.sandbox().Write("home/alice/.ssh/authorized_keys", users_own, 0600, agent::testing::kAlice);
  };
  Deployment d(c, options);
  const std::vector<std::string> lines_a = KeyLines(2000000, keys, "bulk-a");
  const std::vector<std::string> lines_b = KeyLines(3000000, keys, "bulk-b");
  const std::set<std::string> state_a = Blobs(lines_a);
  std::set<std::string> state_b = state_a;
  for (const std::string& b : Blobs(lines_b)) state_b.insert(b);
  if (!report.Check(d.Start().ok(), "set-up failed (the reason is on stderr)")) return report;
  v1::AdminService::Stub& admin = d.controller().admin();
  c.Progress(absl::StrCat("two principals of ", keys, " keys each"));
  absl::StatusOr<v1::AddKeysResponse> added_a = testing::AddPrincipalWithGrant(
      admin, "bulk-a", lines_a, testing::LabelSelector("env", "prod"), "alice");
  // bulk-b's own grant selects no host; the rounds add and remove one that selects them all.
  absl::StatusOr<v1::AddKeysResponse> added_b = testing::AddPrincipalWithGrant(
      admin, "bulk-b", lines_b, testing::LabelSelector("env", "none"), "alice");
  if (!report.Check(added_a.ok() && added_b.ok(), "adding the keys failed") ||
      !report.Check(AllConverged(WaitConverged(d.agents(), state_a, Clock::now(), seconds(30))),
                    "the agents did not get the first state before the faults")) {
    return report;
  }

  // How long the change takes to reach the files undisturbed: the window the kills aim at.
  const auto warm_up = Clock::now();
  absl::StatusOr<std::string> grant_b = AddGrant(admin, "bulk-b");
  const std::vector<double> applied = WaitConverged(d.agents(), state_b, warm_up, seconds(30));
  if (!report.Check(grant_b.ok() && AllConverged(applied), "the warm-up change did not apply") ||
      !report.Check(RemoveGrant(admin, *grant_b).ok() &&
                        AllConverged(WaitConverged(d.agents(), state_a, Clock::now(), seconds(30))),
                    "the warm-up change was not undone")) {
    return report;
  }
  const double apply_s = *std::max_element(applied.begin(), applied.end());
  // Aimed around the moment the files changed in the warm-up, where the write is.
  const int window_from_ms = static_cast<int>(100 * apply_s);
  const int window_ms = std::max(50, static_cast<int>(900 * apply_s));

  int kills = 0, held_old = 0, held_new = 0, mid_write = 0, users_kept = 0, leftovers = 0;
  std::vector<double> converge_each;
  bool with_b = false;
  for (int r = 0; r < rounds; ++r) {
    const std::set<std::string>& old_state = with_b ? state_b : state_a;
    const std::set<std::string>& new_state = with_b ? state_a : state_b;
    std::vector<std::pair<milliseconds, FleetAgent*>> schedule;
    for (FleetAgent* a : d.agents())
      schedule.emplace_back(c.UniformMs(window_from_ms, window_ms), a);
    std::sort(schedule.begin(), schedule.end());
    c.Progress(absl::StrCat("round ", r + 1, "/", rounds, ": ", with_b ? "removing" : "adding",
                            " the grant of ", keys, " keys; kills ", window_from_ms, "-", window_ms,
                            " ms after"));
    absl::Status changed = absl::OkStatus();
    if (with_b) {
      changed = RemoveGrant(admin, *grant_b);
    } else {
      grant_b = AddGrant(admin, "bulk-b");
      changed = grant_b.status();
    }
    const auto changed_at = Clock::now();
    if (!report.Check(changed.ok(), "the change failed: " + changed.ToString())) break;
    with_b = !with_b;
    for (const auto& [offset, a] : schedule) {
      std::this_thread::sleep_until(changed_at + offset);
      a->Kill9();
      ++kills;
    }
    for (FleetAgent* a : d.agents()) {
      const std::string text = a->File();
      const std::optional<std::set<std::string>> blobs = ManagedBlobs(text);
      const agent::ParsedAuthorizedKeys parsed = agent::ParseAuthorizedKeysFile(text);
      std::string outside;
      for (const std::string& l : parsed.before) outside += l;
      for (const std::string& l : parsed.after) outside += l;
      mid_write += TempFiles(a->sandbox().Path("home/alice/.ssh")) > 0 ? 1 : 0;
      held_old += blobs && *blobs == old_state ? 1 : 0;
      held_new += blobs && *blobs == new_state ? 1 : 0;
      report.Check(blobs && (*blobs == old_state || *blobs == new_state),
                   absl::StrCat("round ", r + 1, ": ", a->hostname(), "'s file after kill -9 ",
                                !blobs ? "has no intact managed block"
                                       : absl::StrCat("holds ", blobs->size(),
                                                      " managed keys, neither the old state (",
                                                      old_state.size(), ") nor the new one (",
                                                      new_state.size(), ")")));
      users_kept += outside == users_own ? 1 : 0;
      report.Check(outside == users_own, absl::StrCat("round ", r + 1, ": ", a->hostname(),
                                                      "'s own lines were not kept byte for byte"));
    }
    const auto restarted_at = Clock::now();
    for (FleetAgent* a : d.agents()) {
      report.Check(a->Start(d.addresses()).ok(), "an agent did not start again");
    }
    const std::vector<double> converged = WaitConverged(d.agents(), new_state, restarted_at,
                                                        seconds(static_cast<int>(kConvergeBound)));
    report.Check(AllConverged(converged),
                 absl::StrCat("round ", r + 1, ": not every agent converged within ",
                              kConvergeBound, " s of its restart"));
    for (double s : converged) converge_each.push_back(s);
    for (FleetAgent* a : d.agents()) leftovers += TempFiles(a->sandbox().Path("home/alice/.ssh"));
  }
  const int converged_n = static_cast<int>(
      std::count_if(converge_each.begin(), converge_each.end(), [](double s) { return s >= 0; }));
  const double max_converge =
      converge_each.empty() || converged_n < static_cast<int>(converge_each.size())
          ? -1
          : *std::max_element(converge_each.begin(), converge_each.end());
  report.Figure(absl::StrCat(
      "rounds ", rounds, ", a change of ", keys, " keys applied in ", Secs(apply_s),
      " undisturbed, agents killed ", kills, " times (file held the old block ", held_old,
      ", the new ", held_new, ", anything else ", kills - held_old - held_new,
      "; killed mid-write ", mid_write, "), users' own lines kept ", users_kept, "/", kills,
      ", converged after restart ", converged_n, "/", converge_each.size(), " in ",
      Secs(max_converge), " (max), temporary files left ", leftovers));
  report.Check(leftovers == 0, absl::StrCat(leftovers,
                                            " temporary files were left after the "
                                            "restarted agents applied"));
  return report;
}

}  // namespace keyfleet::faults
