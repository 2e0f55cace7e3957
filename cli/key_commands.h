// `keyfleet key add | generate | list | show | reach | label | rotate | remove | revoke`.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/global_options.h"

namespace keyfleet::cli {

void AddKeyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
