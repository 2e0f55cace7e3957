// A key named on the command line: its SHA256:… fingerprint as given, or a public key file (- for
// stdin) holding exactly one key, fingerprinted here. For the commands that ask the controller
// about one key (`verify`, `key reach`).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace keyfleet::cli {

// The key's SHA256 fingerprint. INVALID_ARGUMENT saying what is accepted when `arg` is a
// malformed fingerprint or a file that does not hold exactly one public key; ReadTextInput's
// error, naming the file, when it cannot be read.
absl::StatusOr<std::string> FingerprintArgument(const std::string& arg);

}  // namespace keyfleet::cli
