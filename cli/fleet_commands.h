// `keyfleet host list | show | status`, `keyfleet access HOST [ACCOUNT]`, `keyfleet verify`,
// `keyfleet report compliance | rotation | drift`: what the fleet looks like and who can log in
// where.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddFleetCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
