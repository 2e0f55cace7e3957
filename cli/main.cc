// keyfleet: the admin command-line tool.
#include <grpc/support/log.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "cli/admin_commands.h"
#include "cli/check_authorized_keys_command.h"
#include "cli/completion_command.h"
#include "cli/exit_codes.h"
#include "cli/fingerprint_command.h"
#include "cli/fleet_commands.h"
#include "cli/global_options.h"
#include "cli/grant_commands.h"
#include "cli/host_commands.h"
#include "cli/key_commands.h"
#include "cli/known_hosts_command.h"
#include "cli/notify_commands.h"
#include "cli/principal_commands.h"
#include "cli/rollout_commands.h"
#include "cli/token_commands.h"
#include "common/request_id.h"
#include "common/utf8.h"

namespace {

// A word where a command was expected, per command group: CLI11 alone would only say "A
// subcommand is required". Each group that needs a subcommand gets a hidden catch-all positional
// (subcommand names still match first), read when parsing fails.
struct StrayWords {
  CLI::App* group;
  std::vector<std::string> words;
};

void CatchStrayWords(CLI::App* app, std::vector<std::unique_ptr<StrayWords>>* out) {
  if (app->get_require_subcommand_min() > 0) {
    out->push_back(std::make_unique<StrayWords>(StrayWords{app, {}}));
    app->add_option("stray-word", out->back()->words)->group("");
  }
  for (CLI::App* sub : app->get_subcommands({})) CatchStrayWords(sub, out);
}

// "keyfleet key" for the `key` group.
std::string GroupPath(CLI::App* app) {
  std::string path = app->get_name();
  for (CLI::App* p = app->get_parent(); p != nullptr; p = p->get_parent()) {
    path = p->get_name() + " " + path;
  }
  return path;
}

// gRPC's own log lines (a failed TLS handshake, say) would come before keyfleet's message,
// which already says what failed and why; GRPC_VERBOSITY set in the environment keeps them.
void QuietGrpcLog(gpr_log_func_args* /*args*/) {}

}  // namespace

int main(int argc, char** argv) {
  using namespace keyfleet::cli;
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(QuietGrpcLog);
  // Every argument may end up in a protobuf string, which must be UTF-8: say which one is not,
  // instead of the controller refusing the request without a reason.
  for (int i = 1; i < argc; ++i) {
    if (std::optional<size_t> bad = keyfleet::FindInvalidUtf8(argv[i])) {
      std::cerr << "keyfleet: error: argument " << i << " is not valid UTF-8 (byte " << *bad + 1
                << "); names, labels, reasons and options must be UTF-8 text\n";
      return kExitUsage;
    }
  }
  CLI::App app(
      "keyfleet: provision and rotate SSH authorized_keys across a fleet.\n"
      "Exit codes: 0 success, 1 refused (reason printed), 2 usage error, 3 controller "
      "unreachable, 4 --wait timed out before every targeted host converged, 5 some hosts applied "
      "it but could not write some accounts (named, with the reason), 6 the controller's "
      "database is unavailable.",
      "keyfleet");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  app.require_subcommand(1);
  GlobalOptions globals;
  if (const char* env = std::getenv("KEYFLEET_CONTROLLER")) globals.controller = env;
  app.add_option("--controller", globals.controller,
                 "Controller address HOST:PORT (default: $KEYFLEET_CONTROLLER, then "
                 "`controller:` in ~/.config/keyfleet/config.yaml, then 127.0.0.1:7443)")
      ->capture_default_str();
  if (const char* env = std::getenv("KEYFLEET_CA")) globals.ca_file = env;
  app.add_option("--ca", globals.ca_file,
                 "The controller's CA certificate (PEM) to verify it with (default: $KEYFLEET_CA, "
                 "then `ca:` in ~/.config/keyfleet/config.yaml)");
  app.add_flag("--insecure-dev", globals.insecure_dev,
               "Plaintext, for a controller started with --insecure-dev on loopback");
  if (const char* env = std::getenv("KEYFLEET_TOKEN")) globals.env_token = env;
  if (const char* env = std::getenv("KEYFLEET_TOKEN_FILE")) globals.env_token_file = env;
  app.add_option(
      "--token", globals.token,
      "API token (kfat_…) to authenticate with; prefer --token-file or $KEYFLEET_TOKEN, which "
      "other users cannot see in the process list (default: $KEYFLEET_TOKEN, then `token_file:` "
      "or `token:` in ~/.config/keyfleet/config.yaml)");
  app.add_option(
      "--token-file", globals.token_file,
      "File holding the API token, readable only by you (default: $KEYFLEET_TOKEN_FILE)");
  app.add_option(
      "--cert", globals.cert_file,
      "Admin client certificate (from `keyfleet admin cert issue`) to authenticate with over "
      "mTLS, with --key (default: `cert:` in the config file)");
  app.add_option("--key", globals.key_file,
                 "The admin certificate's private key, readable only by you (default: `key:`)");
  if (const char* env = std::getenv("KEYFLEET_REQUEST_ID")) globals.request_id = env;
  app.add_option("--request-id", globals.request_id,
                 "Idempotency key for this command's change (8-64 of A-Z a-z 0-9 . _ -): run "
                 "the command again with the same id and the controller answers with the first "
                 "outcome instead of doing it twice, for 7 days (default: $KEYFLEET_REQUEST_ID, "
                 "else a random id, which keyfleet reuses when it asks again after a lost answer)")
      ->check([](const std::string& id) {
        absl::Status s = keyfleet::ValidateRequestId(id);
        return s.ok() ? std::string() : std::string(s.message());
      });
  std::map<std::string, OutputFormat> formats{{"table", OutputFormat::kTable},
                                              {"json", OutputFormat::kJson}};
  app.add_option("-o,--output", globals.output, "Output format: table (default) or json")
      ->transform(CLI::Validator(
          [formats](std::string& value) -> std::string {
            std::string lower = value;
            for (char& c : lower)
              c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto it = formats.find(lower);
            if (it == formats.end()) {
              return "\"" + value + "\" is not an output format (allowed: table, json)";
            }
            value = std::to_string(static_cast<int>(it->second));
            return "";
          },
          "", "output format"))
      ->type_name("table|json");

  int exit_code = kExitOk;
  AddPrincipalCommands(app, globals, exit_code);
  AddKeyCommands(app, globals, exit_code);
  AddGrantCommands(app, globals, exit_code);
  AddFleetCommands(app, globals, exit_code);
  AddKnownHostsCommand(app, globals, exit_code);
  AddHostAdminCommands(app, globals, exit_code);
  AddPolicyCommands(app, globals, exit_code);
  AddAuditCommands(app, globals, exit_code);
  AddRolloutCommands(app, globals, exit_code);
  AddNotifyCommands(app, globals, exit_code);
  AddFingerprintCommand(app, globals, exit_code);
  AddCheckAuthorizedKeysCommand(app, globals, exit_code);

  AddTokenCommands(app, globals, exit_code);
  AddCompletionCommand(app);

  std::vector<std::unique_ptr<StrayWords>> stray;
  CatchStrayWords(&app, &stray);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    for (const auto& s : stray) {
      if (s->words.empty()) continue;
      std::vector<std::string> names;
      for (CLI::App* sub : s->group->get_subcommands({})) names.push_back(sub->get_name());
      std::cerr << "keyfleet: unknown command \"" << s->words.front() << "\" for `"
                << GroupPath(s->group) << "` (commands: " << absl::StrJoin(names, ", ") << "; see `"
                << GroupPath(s->group) << " --help`)\n";
      return kExitUsage;
    }
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
