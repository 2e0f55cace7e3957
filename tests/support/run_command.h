// Runs a shell command for tests and captures its standard output and exit code.
#pragma once

#include <string>

namespace keyfleet::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not run or was killed by a signal
  std::string out;
};

CommandResult RunCommand(const std::string& command);

// The command line of the `keyfleet` CLI `cli` against the controller at `address`, verifying it
// with `ca_cert` and holding the token in `token_file`, with no other credential from the
// environment (KEYFLEET_TOKEN and KEYFLEET_TOKEN_FILE unset, HOME=/nonexistent); ends in `args`.
std::string KeyfleetCliCommand(const std::string& cli, const std::string& address,
                               const std::string& ca_cert, const std::string& token_file,
                               const std::string& args);

// `AGENT enroll --controller ADDRESS --token TOKEN --ca-hash CA_PIN --tls-dir TLS_DIR`, its
// stderr in `out` with its stdout.
CommandResult EnrollAgentBinary(const std::string& agent, const std::string& address,
                                const std::string& token, const std::string& ca_pin,
                                const std::string& tls_dir);

}  // namespace keyfleet::testing
