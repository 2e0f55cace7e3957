// `promtool check metrics` (Debian's prometheus package) on an exposition, for tests of the
// controller's /metrics and the agent's node_exporter textfile. Header-only: the tests that use it
// already link keyfleet_test_support (RunCommand, ScopedTempDir).
#pragma once

#include <fstream>
#include <string>

#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::testing {

// "" when promtool accepts `exposition` without a single problem (lint included); otherwise
// what it said, with its exit code. A missing promtool is a failure too, never a pass.
inline std::string PromtoolProblems(const std::string& exposition) {
  ScopedTempDir dir("kf-promtool");
  const std::string path = dir.path().string() + "/metrics.prom";
  std::ofstream(path, std::ios::binary) << exposition;
  CommandResult result = RunCommand("promtool check metrics < '" + path + "' 2>&1");
  if (result.exit_code == 0 && result.out.empty()) return "";
  return "promtool check metrics exited " + std::to_string(result.exit_code) + ": " +
         (result.out.empty() ? std::string("(no output; is the prometheus package installed?)")
                             : result.out);
}

}  // namespace keyfleet::testing
