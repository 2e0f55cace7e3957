#include "cli/rollout_commands.h"

#include <unistd.h>

#include <iostream>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

grpc::Status Status(ControllerClient& client, uint64_t change, v1::RolloutStatusResponse* resp) {
  v1::RolloutStatusRequest req;
  req.set_change(change);
  return client.admin().RolloutStatus(client.Context().get(), req, resp);
}

void PrintSummary(const v1::RolloutStatusResponse& s, bool converged, absl::Duration took) {
  std::cout << "change " << s.change() << ": converged " << s.converged_hosts() << "/"
            << s.targeted_hosts() << " hosts";
  if (took > absl::ZeroDuration()) {
    std::cout << " in " << absl::StrFormat("%.1fs", absl::ToDoubleSeconds(took));
  }
  std::cout << "\n";
  if (!converged && s.pending_hosts_size() > 0) {
    std::cout << "not converged: "
              << absl::StrJoin(s.pending_hosts().begin(), s.pending_hosts().end(), ", ") << "\n";
  }
  if (s.offline_hosts_size() > 0) {
    std::cout << "not connected (they apply it when they reconnect): "
              << absl::StrJoin(s.offline_hosts().begin(), s.offline_hosts().end(), ", ") << "\n";
  }
  if (s.failed_hosts_size() > 0) {
    std::cout << "FAILED on " << s.failed_hosts_size()
              << " host(s) (applied, but these accounts are not as desired):\n";
    for (const v1::FailedHost& h : s.failed_hosts()) {
      for (const v1::AccountFailure& a : h.accounts()) {
        std::cout << "  " << h.hostname() << ": " << (a.account().empty() ? "*" : a.account())
                  << ": " << a.reason() << "\n";
      }
    }
  }
}

int ExitCodeOf(const v1::RolloutStatusResponse& s) {
  if (s.failed_hosts_size() > 0) return kExitRolloutFailed;
  return s.pending_hosts_size() == 0 ? kExitOk : kExitNotConverged;
}

}  // namespace

int WaitForRollout(ControllerClient& client, const GlobalOptions& globals, uint64_t change,
                   absl::Duration timeout) {
  const bool live = isatty(STDERR_FILENO) && globals.output == OutputFormat::kTable;
  const absl::Time start = absl::Now();
  v1::RolloutStatusResponse resp;
  bool converged = false;
  for (;;) {
    resp.Clear();
    grpc::Status s = Status(client, change, &resp);
    if (!s.ok()) return client.Fail(s);
    // Hosts that are not connected apply the change when they reconnect; --wait does not wait
    // for them but lists them.
    converged = resp.pending_hosts_size() == 0;
    if (live) {
      std::cerr << "\rconverged " << resp.converged_hosts() << "/" << resp.targeted_hosts()
                << " hosts" << std::flush;
    }
    if (converged || absl::Now() - start >= timeout) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (live) std::cerr << "\n";
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp) << "\n";
  } else {
    PrintSummary(resp, converged, absl::Now() - start);
  }
  return ExitCodeOf(resp);
}

void AddWaitOptions(CLI::App* cmd, WaitOptions* options) {
  cmd->add_flag("--wait", options->wait,
                "Wait until every targeted, connected host has applied the change (exit 4 if "
                "some have not within --timeout; exit 5 if some applied it but could not write "
                "some accounts, each named with the reason)");
  cmd->add_option("--timeout", options->timeout, "How long --wait waits (default 60s)");
}

int FinishMutation(ControllerClient& client, const GlobalOptions& globals,
                   const std::string& message, uint64_t change, const WaitOptions& wait) {
  absl::StatusOr<absl::Duration> timeout = ParseDurationText(wait.timeout);
  if (!timeout.ok()) return UsageError("--timeout: " + std::string(timeout.status().message()));
  v1::MutationResponse response;
  response.set_change(change);
  if (!wait.wait || change == 0) return PrintMutation(globals, message, response);
  if (globals.output == OutputFormat::kTable) {
    std::cout << message << " (change " << change << ")\n";
  }
  return WaitForRollout(client, globals, change, *timeout);
}

void AddRolloutCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand("rollout", "How far a change has reached the fleet");
  group->require_subcommand(1);
  auto change = std::make_shared<uint64_t>(0);
  CLI::App* status = group->add_subcommand(
      "status",
      "Targeted and converged hosts for CHANGE (default: the latest change that reached some "
      "host)");
  status->add_option("CHANGE", *change, "A change number, as mutations print it");
  OnRun(status, globals, exit_code, [change, &globals](ControllerClient& client) {
    v1::RolloutStatusResponse resp;
    grpc::Status s = Status(client, *change, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else {
      PrintSummary(resp, resp.pending_hosts_size() == 0, absl::ZeroDuration());
    }
    return resp.failed_hosts_size() > 0 ? kExitRolloutFailed : kExitOk;
  });
}

}  // namespace keyfleet::cli
