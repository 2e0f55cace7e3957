// `keyfleet host label|remove` and `keyfleet host token create|list|revoke`: the admin side of
// agent enrollment. Added under the `host` command that fleet_commands creates.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddHostAdminCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
