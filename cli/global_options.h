// Options every `keyfleet` command accepts.
#pragma once

#include <string>

namespace keyfleet::cli {

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string controller;     // --controller, KEYFLEET_CONTROLLER
  std::string ca_file;        // --ca, KEYFLEET_CA: the controller's CA certificate(s), PEM
  bool insecure_dev = false;  // --insecure-dev: plaintext, for a --insecure-dev controller
  OutputFormat output = OutputFormat::kTable;
};

}  // namespace keyfleet::cli
