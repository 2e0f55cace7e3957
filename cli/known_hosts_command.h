// `keyfleet known-hosts`: a known_hosts file of the fleet's SSH host keys, as the hosts' agents
// reported them.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddKnownHostsCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
