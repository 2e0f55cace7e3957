// keyfleet-controller: the gRPC controller backed by PostgreSQL.
//   keyfleet-controller [serve] --db URL [--listen ADDR] [--config FILE] …
//   keyfleet-controller migrate --db URL
//   keyfleet-controller new-epoch --db URL                # after restoring a file-level copy
//   keyfleet-controller init-ca [--ca-dir DIR]            # create the CA, print its pin
//   keyfleet-controller ca show|stage|activate|retire [--ca-dir DIR]   # rotation
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "common/duration_text.h"
#include "common/logging.h"
#include "common/runtime_setup.h"
#include "controller/audit_signer.h"
#include "controller/ca/certificate_authority.h"
#include "controller/config.h"
#include "controller/controller_server.h"
#include "controller/dashboard/dashboard_server.h"
#include "controller/metrics/http_server.h"
#include "controller/secret_token.h"
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
  std::string log_format;
  std::optional<std::string> metrics_listen;  // given on the command line ("" too)
  std::optional<std::string> dashboard_listen;
  std::string ca_dir;
  std::vector<std::string> tls_names;
  std::string bootstrap_token_file;
  bool no_migrate = false;
  bool insecure_dev = false;
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
  if (const char* env = std::getenv("KEYFLEET_BOOTSTRAP_TOKEN"); env != nullptr && *env != '\0') {
    config.bootstrap_token = env;
    unsetenv("KEYFLEET_BOOTSTRAP_TOKEN");  // no child or crash report inherits the secret
  }
  if (!flags.listen.empty()) config.listen = flags.listen;
  if (!flags.log_level.empty()) config.log_level = flags.log_level;
  if (!flags.log_format.empty()) {
    absl::StatusOr<keyfleet::LogFormat> format = keyfleet::ParseLogFormat(flags.log_format);
    if (!format.ok()) return format.status();
    config.log_format = *format;
  }
  if (flags.metrics_listen) {
    auto address = keyfleet::controller::metrics::ParseMetricsListen(*flags.metrics_listen);
    if (!address.ok()) return address.status();
    config.metrics_listen = address->value_or("");
  }
  if (flags.dashboard_listen) {
    auto address = keyfleet::controller::dashboard::ParseDashboardListen(*flags.dashboard_listen);
    if (!address.ok()) return address.status();
    config.dashboard_listen = address->value_or("");
  }
  if (flags.no_migrate) config.migrate_on_start = false;
  if (!flags.ca_dir.empty()) config.ca_dir = flags.ca_dir;
  if (!flags.tls_names.empty()) config.tls_names = flags.tls_names;
  if (flags.insecure_dev) config.insecure_dev = true;
  if (!flags.bootstrap_token_file.empty()) {
    config.bootstrap_token_file = flags.bootstrap_token_file;
  }
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

void PrintCa(const keyfleet::controller::CertificateAuthority& ca, const std::string& dir) {
  std::cout << "CA in " << dir << "\n  signing CA pin: " << ca.pin() << "\n";
  for (const std::string& pin : ca.trusted_pins()) {
    if (pin != ca.pin()) std::cout << "  also trusted:   " << pin << "\n";
  }
  std::cout << "Agents enroll with: keyfleet-agent enroll --controller ADDR --token TOKEN "
               "--ca-hash "
            << ca.pin() << "\nThe CLI verifies the controller with: keyfleet --ca " << dir
            << "/ca.crt …\n";
}

// init-ca and ca show|stage|activate|retire. Rotation, days apart: stage (agents learn the new
// CA as they renew), activate (restart the replicas: new certificates come from the new CA; the
// old one stays trusted), retire (once every agent renewed from the new CA).
int CaCommand(const std::string& action, const std::string& dir, bool bundle) {
  using keyfleet::controller::CertificateAuthority;
  absl::Status done;
  const absl::Time now = absl::Now();
  if (action == "init") {
    done = CertificateAuthority::Create(dir, now);
    // A new installation's audit key beside its CA, so that a mounted secret made from the
    // directory holds both (the first start would make it, in a directory it may not write).
    if (done.ok()) {
      absl::StatusOr<std::unique_ptr<keyfleet::controller::AuditSigner>> audit =
          keyfleet::controller::AuditSigner::LoadOrCreate(dir, now);
      if (!audit.ok()) done = audit.status();
    }
  } else if (action == "stage") {
    done = CertificateAuthority::StageNext(dir, now);
  } else if (action == "activate") {
    done = CertificateAuthority::ActivateNext(dir);
  } else if (action == "retire") {
    done = CertificateAuthority::RetirePrevious(dir);
  }
  if (!done.ok()) return Fail(kExitFailure, std::string(done.message()));
  auto ca = CertificateAuthority::Load(dir);
  if (!ca.ok()) return Fail(kExitFailure, std::string(ca.status().message()));
  if (bundle) {
    std::cout << (*ca)->trust_bundle_pem();
    return 0;
  }
  PrintCa(**ca, dir);
  if (action == "activate") {
    std::cout << "Restart every replica: their server certificates then come from the new CA.\n";
  }
  return 0;
}

// Below this many descriptors a fleet of a few thousand hosts can exhaust them.
constexpr unsigned long kOpenFilesForAFleet = 65536;

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  const unsigned long open_files = keyfleet::RaiseOpenFileLimit();
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
    cmd->add_option("--log-format", flags.log_format,
                    "text (default) or json: one JSON object per line (time, level, logger, msg)");
    cmd->add_option_function<std::string>(
        "--metrics-listen", [&flags](const std::string& value) { flags.metrics_listen = value; },
        "HTTP address for /metrics (Prometheus), /healthz and /readyz, e.g. 0.0.0.0:9464; "
        "\"off\" for none (default 127.0.0.1:9464, skipped with a warning when that port is "
        "taken)");
    cmd->add_option_function<std::string>(
        "--dashboard-listen",
        [&flags](const std::string& value) { flags.dashboard_listen = value; },
        "HTTPS address for the web dashboard, e.g. 0.0.0.0:9443 (port 0: any free port); "
        "\"off\" for none (the default). Served with the gRPC port's TLS certificate; sign in "
        "with an API token");
  }
  add_db(migrate);
  CLI::App* new_epoch = app.add_subcommand(
      "new-epoch",
      "Give the database a new epoch, after restoring it from a file-level copy of its data "
      "directory (a pg_dump restore, point-in-time recovery or a rebuilt database get one on "
      "their own). Agents compare change numbers only within one epoch: without a new one they "
      "ignore the restored database's changes until its count passes what they had applied. "
      "Running replicas pick the new epoch up within their feed poll interval.");
  add_db(new_epoch);
  const std::string default_ca_dir = ControllerConfig().ca_dir;
  std::string ca_dir = default_ca_dir;
  CLI::App* init_ca = app.add_subcommand(
      "init-ca",
      "Create the controller's CA (ECDSA P-256) and its audit checkpoint key in --ca-dir and "
      "print the CA's pin; the key files are readable only by their owner. The first start "
      "does the same when the directory has none. Replicas share the directory (a mounted "
      "secret).");
  CLI::App* ca_cmd = app.add_subcommand(
      "ca",
      "Show the CA, or rotate it in three steps days apart: `stage` (a next CA, trusted but not "
      "yet signing; agents receive it when they renew), `activate` (the next CA signs; restart "
      "the replicas; the old one stays trusted), `retire` (stop trusting the old CA once every "
      "agent has renewed).");
  std::string ca_action;
  bool ca_bundle = false;
  ca_cmd->add_flag("--bundle", ca_bundle,
                   "With show: print every trusted CA certificate (PEM), for clients to verify "
                   "the controller with during a rotation (keyfleet --ca FILE)");
  ca_cmd->add_option("ACTION", ca_action, "show, stage, activate or retire")
      ->required()
      ->check(CLI::IsMember({"show", "stage", "activate", "retire"}));
  CLI::App* audit_key_cmd = app.add_subcommand(
      "audit-key",
      "Print the audit key's id and public key (PEM): what checks the signed checkpoints of an "
      "exported audit log away from the controller. The private key stays in --ca-dir.");
  for (CLI::App* cmd : {init_ca, ca_cmd, audit_key_cmd}) {
    cmd->add_option("--ca-dir", ca_dir, "CA directory (default " + default_ca_dir + ")");
  }
  for (CLI::App* cmd : {&app, serve}) {
    cmd->add_option("--ca-dir", flags.ca_dir,
                    "CA directory: ca.key, ca.crt (default /var/lib/keyfleet/ca)");
    cmd->add_option("--tls-name", flags.tls_names,
                    "A DNS name or IP address for the server certificate (repeatable; default "
                    "localhost, 127.0.0.1, ::1)");
    cmd->add_flag("--insecure-dev", flags.insecure_dev,
                  "DEVELOPMENT ONLY: plaintext, no agent authentication; refuses any listen "
                  "address but loopback");
    cmd->add_option(
        "--bootstrap-token-file", flags.bootstrap_token_file,
        "The first admin token, made on a database's first start: used from this "
        "file if it exists (e.g. a mounted secret; make one with `keyfleet-controller "
        "bootstrap-token`), written there (0600) if not. Without it the token is "
        "printed once on stderr. $KEYFLEET_BOOTSTRAP_TOKEN, when set, is registered instead "
        "(e.g. from a Kubernetes Secret).");
  }
  CLI::App* bootstrap_cmd = app.add_subcommand(
      "bootstrap-token",
      "Print a new random API token (kfat_…) for --bootstrap-token-file or a Kubernetes secret; "
      "it becomes the bootstrap admin token when a controller first starts with it.");
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (bootstrap_cmd->parsed()) {
    auto token = keyfleet::controller::GenerateSecretToken(keyfleet::controller::kApiTokenFormat);
    if (!token.ok()) return Fail(kExitFailure, std::string(token.status().message()));
    std::cout << token->text << "\n";
    return 0;
  }
  if (audit_key_cmd->parsed()) {
    auto signer = keyfleet::controller::AuditSigner::Load(ca_dir);
    if (!signer.ok()) return Fail(kExitFailure, std::string(signer.status().message()));
    std::cout << "# " << (*signer)->key_id() << "\n" << (*signer)->public_key_pem();
    return 0;
  }
  if (init_ca->parsed()) return CaCommand("init", ca_dir, false);
  if (ca_cmd->parsed()) return CaCommand(ca_action, ca_dir, ca_bundle);

  absl::StatusOr<ControllerConfig> config = BuildConfig(flags);
  if (!config.ok()) return Fail(kExitUsage, std::string(config.status().message()));
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  keyfleet::SetLogFormat(config->log_format, "keyfleet-controller");

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

  if (new_epoch->parsed()) {
    if (config->database.empty()) return Fail(kExitUsage, "--db (or KEYFLEET_DB) is required");
    keyfleet::controller::PostgresStore store({config->database, 1, absl::Seconds(5)});
    if (absl::Status schema = store.CheckSchema(); !schema.ok()) {
      return Fail(kExitFailure, std::string(schema.message()));
    }
    auto epoch = store.RenewDatabaseEpoch({"keyfleet-controller new-epoch", absl::Now()});
    if (!epoch.ok()) return Fail(kExitFailure, std::string(epoch.status().message()));
    std::cout << "the database's epoch is now " << *epoch
              << "; restart every controller replica so agents receive it\n";
    return 0;
  }

  keyfleet::SystemClock clock;
  if (open_files < kOpenFilesForAFleet) {
    spdlog::warn(
        "the open-file limit is {} (hard limit): each connected agent holds a descriptor, and "
        "past it new connections wait until others close; raise it (LimitNOFILE= in the unit, "
        "ulimit -Hn) to at least {}",
        open_files, kOpenFilesForAFleet);
  }
  keyfleet::controller::ControllerServer server(*config, clock);
  absl::Status started = server.Start();
  if (!started.ok()) {
    // With JSON logs the reason is a log line too, so a collector sees why the process exited.
    if (config->log_format == keyfleet::LogFormat::kJson) {
      spdlog::critical("cannot start: {}", std::string(started.message()));
      return started.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
    }
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
