// Runs a shell command for tests and captures its standard output and exit code.
#pragma once

#include <string>

namespace keyfleet::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not run or was killed by a signal
  std::string out;
};

CommandResult RunCommand(const std::string& command);

}  // namespace keyfleet::testing
