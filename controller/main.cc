// keyfleet-controller: the gRPC controller backed by PostgreSQL.
//   keyfleet-controller [serve] --db URL [--listen ADDR] [--config FILE] …
//   keyfleet-controller migrate --db URL
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "common/duration_text.h"
#include "common/runtime_setup.h"
#include "controller/config.h"
#include "controller/controller_server.h"
#include "controller/store/migrations.h"
#include "controller/store/postgres_store.h"
#include "spdlog/spdlog.h"

namespace {

using keyfleet::controller::ControllerConfig;

// Exit codes: 0 ok, 1 runtime failure (database, port), 2 usage or config error.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Flags {
  std::string config_path;
  std::string database;
  std::string listen;
  std::string max_key_age;
  std::string warning_window;
  std::string log_level;
  bool no_migrate = false;
};

int Fail(int code, const std::string& message) {
  std::cerr << "keyfleet-controller: " << message << "\n";
  return code;
}

// Defaults < config file < KEYFLEET_DB < flags.
absl::StatusOr<ControllerConfig> BuildConfig(const Flags& flags) {
  ControllerConfig config;
  if (!flags.config_path.empty()) {
    auto loaded = keyfleet::controller::LoadControllerConfigFile(flags.config_path, config);
    if (!loaded.ok()) return loaded.status();
    config = *loaded;
  }
  if (const char* env = std::getenv("KEYFLEET_DB"); env != nullptr && *env != '\0') {
    config.database = env;
  }
  if (!flags.database.empty()) config.database = flags.database;
  if (!flags.listen.empty()) config.listen = flags.listen;
  if (!flags.log_level.empty()) config.log_level = flags.log_level;
  if (flags.no_migrate) config.migrate_on_start = false;
  if (!flags.max_key_age.empty()) {
    auto d = keyfleet::ParseDurationText(flags.max_key_age);
    if (!d.ok()) return d.status();
    config.default_policy.max_key_age = *d;
  }
  if (!flags.warning_window.empty()) {
    auto d = keyfleet::ParseDurationText(flags.warning_window);
    if (!d.ok()) return d.status();
    config.default_policy.warning_window = *d;
  }
  return config;
}

std::atomic<bool> g_stop{false};  // set from the signal handler only

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  CLI::App app(
      "keyfleet-controller: the source of truth for keys, grants, hosts and rotation policy.\n"
      "Serves the admin API (used by `keyfleet`) and the agent API (used by keyfleet-agent) on "
      "one gRPC port, with the gRPC health service and server reflection. State lives in "
      "PostgreSQL; several controllers may share one database.",
      "keyfleet-controller");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  Flags flags;
  auto add_db = [&flags](CLI::App* cmd) {
    cmd->add_option("--db", flags.database,
                    "PostgreSQL URL, e.g. postgresql://keyfleet@localhost/keyfleet "
                    "(default: $KEYFLEET_DB, then `database:` in --config)");
    cmd->add_option("--config", flags.config_path, "YAML config file (see deploy/controller.yaml)");
  };
  CLI::App* serve = app.add_subcommand("serve", "Serve the APIs (the default command)");
  CLI::App* migrate = app.add_subcommand("migrate", "Apply pending schema migrations and exit");
  for (CLI::App* cmd : {&app, serve}) {
    add_db(cmd);
    cmd->add_option("--listen", flags.listen, "Address to serve on (default 127.0.0.1:7443)");
    cmd->add_option("--max-key-age", flags.max_key_age,
                    "Default max key age until a policy is set, e.g. 365d");
    cmd->add_option("--warning-window", flags.warning_window,
                    "Default expiry warning window until a policy is set, e.g. 30d");
    cmd->add_flag("--no-migrate", flags.no_migrate,
                  "Do not apply migrations at start-up (refuse to run on an old schema instead)");
    cmd->add_option("--log-level", flags.log_level, "trace, debug, info, warn or error");
  }
  add_db(migrate);
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<ControllerConfig> config = BuildConfig(flags);
  if (!config.ok()) return Fail(kExitUsage, std::string(config.status().message()));
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  if (migrate->parsed()) {
    if (config->database.empty()) return Fail(kExitUsage, "--db (or KEYFLEET_DB) is required");
    keyfleet::controller::PostgresStore store({config->database, 1, absl::Seconds(5)});
    auto result = store.Migrate();
    if (!result.ok()) return Fail(kExitFailure, std::string(result.status().message()));
    std::cout << "schema at version " << result->to_version << " (was " << result->from_version
              << "); applied " << result->applied.size() << " migration(s)\n";
    for (const std::string& name : result->applied) std::cout << "  " << name << "\n";
    return 0;
  }

  keyfleet::SystemClock clock;
  keyfleet::controller::ControllerServer server(*config, clock);
  absl::Status started = server.Start();
  if (!started.ok()) {
    return Fail(started.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure,
                std::string(started.message()));
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("shutting down");
  server.Shutdown();
  return 0;
}
