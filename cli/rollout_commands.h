// `keyfleet rollout status [CHANGE]`, and the --wait of mutations.
#pragma once

#include <cstdint>

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

void AddRolloutCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
