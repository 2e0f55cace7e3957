// `keyfleet rollout status [CHANGE]`, and the --wait of mutations.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "cli/controller_client.h"
#include "cli/global_options.h"

namespace keyfleet::cli {

// Polls the rollout of `change` until every targeted host has applied it or `timeout` passes.
// On a terminal a live line ("converged 812/1000 hosts") goes to stderr; the summary (or the
// final status as JSON) goes to stdout. Returns 0 when converged, kExitNotConverged (listing
// the pending hosts) when not, 1 or 3 when the controller refused or could not be reached.
int WaitForRollout(ControllerClient& client, const GlobalOptions& globals, uint64_t change,
                   absl::Duration timeout);

// --wait [--timeout 60s], for every command that changes what hosts should have.
struct WaitOptions {
  bool wait = false;
  std::string timeout = "60s";
};
void AddWaitOptions(CLI::App* cmd, WaitOptions* options);

// After a committed mutation: prints `message` with the change number (or the response as JSON)
// and, with --wait, waits for its rollout (see WaitForRollout).
int FinishMutation(ControllerClient& client, const GlobalOptions& globals,
                   const std::string& message, uint64_t change, const WaitOptions& wait);

void AddRolloutCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
