// Who may use the admin API: `keyfleet token create|list|revoke`, `keyfleet admin cert issue`
// (an admin client certificate, for people who prefer mTLS) and `keyfleet whoami`.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddTokenCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
