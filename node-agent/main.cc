// keyfleet-agent: the node agent that reconciles ~/.ssh/authorized_keys.
// This build holds the command-line surface only; reconciling arrives with the agent issue.
#include <iostream>

#include "CLI/CLI.hpp"
#include "keyfleet/v1/agent.grpc.pb.h"

int main(int argc, char** argv) {
  CLI::App app(
      "keyfleet-agent: keeps each local account's authorized_keys equal to its desired state.\n"
      "Not yet functional in this build: it parses its command line and exits.",
      "keyfleet-agent");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  CLI11_PARSE(app, argc, argv);
  std::cerr << "keyfleet-agent: reconciling is not implemented in this build\n";
  return 2;
}
