// Options every `keyfleet` command accepts.
#pragma once

#include <string>

namespace keyfleet::cli {

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string controller;  // --controller, KEYFLEET_CONTROLLER
  OutputFormat output = OutputFormat::kTable;
};

}  // namespace keyfleet::cli
