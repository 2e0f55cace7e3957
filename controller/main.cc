// keyfleet-controller: the gRPC controller backed by PostgreSQL.
// This build holds the command-line surface only; serving arrives with the controller issue.
#include <iostream>

#include "CLI/CLI.hpp"
#include "keyfleet/v1/admin.grpc.pb.h"

int main(int argc, char** argv) {
  CLI::App app(
      "keyfleet-controller: the source of truth for keys, grants, hosts and rotation policy.\n"
      "Not yet functional in this build: it parses its command line and exits. The admin and "
      "agent APIs it will serve are defined in proto/keyfleet/v1/.",
      "keyfleet-controller");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  CLI11_PARSE(app, argc, argv);
  std::cerr << "keyfleet-controller: serving is not implemented in this build\n";
  return 2;
}
