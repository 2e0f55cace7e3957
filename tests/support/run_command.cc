#include "tests/support/run_command.h"

#include <sys/wait.h>

#include <cstdio>

namespace keyfleet::testing {

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.out.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string KeyfleetCliCommand(const std::string& cli, const std::string& address,
                               const std::string& ca_cert, const std::string& token_file,
                               const std::string& args) {
  return "env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE HOME=/nonexistent " + cli +
         " --controller " + address + " --ca " + ca_cert + " --token-file " + token_file + " " +
         args;
}

CommandResult EnrollAgentBinary(const std::string& agent, const std::string& address,
                                const std::string& token, const std::string& ca_pin,
                                const std::string& tls_dir) {
  return RunCommand(agent + " enroll --controller " + address + " --token " + token +
                    " --ca-hash " + ca_pin + " --tls-dir " + tls_dir + " 2>&1");
}

}  // namespace keyfleet::testing
