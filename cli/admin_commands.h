// `keyfleet policy show | set` and `keyfleet audit [--since] [--newest-first | --latest N] |
// audit verify | audit export`.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddPolicyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);
void AddAuditCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
