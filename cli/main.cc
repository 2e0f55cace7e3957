// keyfleet: the admin command-line tool.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/check_authorized_keys_command.h"
#include "cli/exit_codes.h"
#include "cli/fingerprint_command.h"
#include "cli/global_options.h"

int main(int argc, char** argv) {
  using namespace keyfleet::cli;
  CLI::App app(
      "keyfleet: provision and rotate SSH authorized_keys across a fleet.\n"
      "Exit codes: 0 success, 1 refused (reason printed), 2 usage error, 3 controller "
      "unreachable.",
      "keyfleet");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  app.require_subcommand(1);
  GlobalOptions globals;
  if (const char* env = std::getenv("KEYFLEET_CONTROLLER")) globals.controller = env;
  app.add_option("--controller", globals.controller,
                 "Controller address HOST:PORT (default: $KEYFLEET_CONTROLLER)")
      ->capture_default_str();
  std::map<std::string, OutputFormat> formats{{"table", OutputFormat::kTable},
                                              {"json", OutputFormat::kJson}};
  app.add_option("-o,--output", globals.output, "Output format: table (default) or json")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case))
      ->type_name("table|json");

  int exit_code = kExitOk;
  AddFingerprintCommand(app, globals, exit_code);
  AddCheckAuthorizedKeysCommand(app, globals, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
