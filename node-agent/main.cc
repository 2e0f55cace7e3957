// keyfleet-agent: the node agent that reconciles ~/.ssh/authorized_keys.
//   keyfleet-agent run [--config FILE] [--controller ADDR[,ADDR…]]… [--once] …
//   keyfleet-agent apply --desired FILE.json [--root DIR] [--min-uid N] [--allow-root]
//   keyfleet-agent authorized-keys-command USER [--cache PATH] [--fingerprint FP [--index-dir DIR]]
//   keyfleet-agent enroll --controller ADDR[,ADDR…]… --token T --ca-hash sha256:HEX
//                         [--hostname NAME] [--config FILE]
//   keyfleet-agent sshd-config [--config FILE] [--command] [--check [--sshd PATH]
//                              [--sshd-config FILE] [--connection SPEC]]
//   keyfleet-agent end-session USER ADDRESS PORT [--pid PID]
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "common/duration_text.h"
#include "common/logging.h"
#include "common/runtime_setup.h"
#include "common/sha256_fingerprint.h"
#include "common/tls/grpc_credentials.h"
#include "node-agent/agent_config.h"
#include "node-agent/apply.h"
#include "node-agent/cache.h"
#include "node-agent/host_credentials.h"
#include "node-agent/key_files.h"
#include "node-agent/keys_index_file.h"
#include "node-agent/metrics_textfile.h"
#include "node-agent/reconciler.h"
#include "node-agent/revocation_file.h"
#include "node-agent/ssh_sessions.h"
#include "node-agent/sshd_activity.h"
#include "node-agent/sshd_config_check.h"
#include "node-agent/watch_client.h"
#include "spdlog/spdlog.h"

namespace {

using keyfleet::agent::AccountOutcome;
using keyfleet::agent::AgentConfig;
using keyfleet::agent::NotApplied;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;  // applied, but an account was refused or failed
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

int Fail(int code, const std::string& message) {
  std::cerr << "keyfleet-agent: " << message << "\n";
  return code;
}

bool AnyRefused(const keyfleet::agent::ApplyReport& report) {
  for (const auto& a : report.accounts) {
    if (NotApplied(a) || a.outcome == AccountOutcome::kNoAccount) return true;
  }
  return false;
}

int Apply(const std::string& desired_path, const keyfleet::agent::ApplySettings& settings) {
  std::stringstream text;
  if (desired_path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(desired_path);
    if (!in) return Fail(kExitUsage, "cannot read " + desired_path);
    text << in.rdbuf();
  }
  keyfleet::v1::DesiredState desired;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &desired);
  if (!parsed.ok()) {
    return Fail(kExitUsage, desired_path + " is not a desired state: " + parsed.ToString());
  }
  const std::string passwd_path = keyfleet::agent::UnderRoot(settings.root, "/etc/passwd");
  auto passwd = keyfleet::agent::PasswdFile::Load(passwd_path);
  if (!passwd.ok()) return Fail(kExitUsage, std::string(passwd.status().message()));
  auto report = keyfleet::agent::ApplyDesiredState(desired, settings, *passwd);
  std::cout << keyfleet::agent::ApplyReportToJson(report) << "\n";
  return AnyRefused(report) ? kExitRefused : kExitOk;
}

// sshd's AuthorizedKeysCommand with %f: the lines of the offered key only, from the keys index.
// Fails closed: on any doubt about the index it prints nothing and says why on stderr (sshd
// logs it).
int AuthorizedKeysForFingerprint(const std::string& user, const std::string& fingerprint,
                                 const std::string& index_dir) {
  absl::StatusOr<std::string> digest = keyfleet::Sha256FingerprintDigest(fingerprint);
  if (!digest.ok()) {
    return Fail(kExitUsage, "--fingerprint: " + std::string(digest.status().message()) +
                                " (sshd's %f for a SHA256 FingerprintHash)");
  }
  absl::StatusOr<std::string> lines =
      keyfleet::agent::LookupKeysIndexFile(index_dir, user, *digest);
  if (!lines.ok()) {
    return Fail(kExitRefused, std::string(lines.status().message()) + "; no keys given");
  }
  std::cout << *lines << std::flush;
  return std::cout ? kExitOk : kExitRefused;
}

// sshd's AuthorizedKeysCommand: the account's managed lines from the cache. No network, no
// gRPC start-up: sshd waits on this for every login.
int AuthorizedKeysCommand(const std::string& user, const std::string& cache_path,
                          const std::string& fingerprint, const std::string& index_dir) {
  if (auto s = keyfleet::agent::ValidateUsername(user); !s.ok()) {
    return Fail(kExitUsage, std::string(s.message()));
  }
  if (!fingerprint.empty()) return AuthorizedKeysForFingerprint(user, fingerprint, index_dir);
  auto cached = keyfleet::agent::DesiredStateCache(cache_path).Load();
  if (!cached.ok()) return Fail(kExitRefused, std::string(cached.status().message()));
  if (!cached->has_value()) {
    // sshd logs a command that fails ("AuthorizedKeysCommand … failed, status 1"): no cache
    // must leave a trace, not look like an account without keys.
    return Fail(kExitRefused,
                "no desired state cached at " + cache_path +
                    " yet (the agent has not received one: is `keyfleet-agent run` running and "
                    "enrolled?); no keys given");
  }
  for (const auto& account : (*cached)->accounts()) {
    if (account.account() != user) continue;
    for (const std::string& line : account.keys()) std::cout << line << "\n";
  }
  return kExitOk;
}

int Enroll(keyfleet::agent::EnrollOptions options, const std::string& timeout,
           const AgentConfig& config) {
  if (!timeout.empty()) {
    auto d = keyfleet::ParseDurationText(timeout);
    if (!d.ok()) return Fail(kExitUsage, "--timeout: " + std::string(d.status().message()));
    options.timeout = *d;
  }
  auto creds = keyfleet::agent::Enroll(options);
  if (!creds.ok()) {
    return Fail(
        creds.status().code() == absl::StatusCode::kUnavailable ? kExitUnreachable : kExitRefused,
        std::string(creds.status().message()));
  }
  std::cout << "enrolled as " << creds->hostname << "; certificate valid until "
            << absl::FormatTime("%Y-%m-%d %H:%MZ", creds->not_after, absl::UTCTimeZone())
            << " (renewed automatically by `keyfleet-agent run`); files in " << options.tls_dir
            << "\n";
  if (!config.revoked_keys_file.empty()) {
    // sshd refuses every key while its RevokedKeys file is missing: it must exist before
    // sshd_config names it, and enrollment is when the host joins.
    const std::string krl = keyfleet::agent::UnderRoot(config.root, config.revoked_keys_file);
    if (absl::Status s = keyfleet::agent::EnsureRevocationFile(krl); !s.ok()) {
      return Fail(kExitRefused, "enrolled, but the KRL for sshd's RevokedKeys is not there: " +
                                    std::string(s.message()));
    }
    std::cout << "sshd's RevokedKeys file " << krl
              << " is in place (see `keyfleet-agent sshd-config`)\n";
  }
  return kExitOk;
}

int SshdConfig(const std::string& config_path, bool command, bool check,
               const std::string& sshd_path, const std::string& sshd_config_file,
               const std::string& connection) {
  AgentConfig config;
  if (!config_path.empty()) {
    auto loaded = keyfleet::agent::LoadAgentConfigFile(config_path, config);
    if (!loaded.ok()) return Fail(kExitUsage, std::string(loaded.status().message()));
    config = *loaded;
  }
  if (!check) {
    keyfleet::agent::SshdConfigOptions options;
    options.command = command;
    char self[4096] = {};
    if (ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1); n > 0) {
      options.agent_binary = std::string(self, static_cast<size_t>(n));
    }
    std::cout << keyfleet::agent::RenderSshdConfigLines(config, options);
    return kExitOk;
  }
  absl::StatusOr<std::string> output =
      keyfleet::agent::RunSshdT(sshd_path, sshd_config_file, connection);
  if (!output.ok()) return Fail(kExitRefused, std::string(output.status().message()));
  auto effective = keyfleet::agent::ParseSshdEffectiveConfig(*output);
  if (!effective.ok()) return Fail(kExitRefused, std::string(effective.status().message()));
  bool all_ok = true;
  for (const keyfleet::agent::SshdCheck& c : keyfleet::agent::CheckSshdConfig(*effective, config)) {
    std::cout << (c.ok ? "ok: " : "problem: ") << c.message << "\n";
    all_ok = all_ok && c.ok;
  }
  return all_ok ? kExitOk : kExitRefused;
}

// One session, ended the way `run` ends the sessions of a key revoked with kill_sessions.
int EndSession(const std::string& user, const std::string& address, int port, int pid) {
  if (auto s = keyfleet::agent::ValidateUsername(user); !s.ok()) {
    return Fail(kExitUsage, std::string(s.message()));
  }
  if (port < 1 || port > 65535) return Fail(kExitUsage, "PORT must be 1 to 65535");
  std::optional<pid_t> only;
  if (pid > 0) only = static_cast<pid_t>(pid);
  const keyfleet::agent::SshSessionFinder finder;
  auto ended = finder.End(user, address, static_cast<uint16_t>(port), only);
  const absl::Status caps = keyfleet::agent::CheckSessionEndingCapabilities();
  if (!ended.ok()) {
    return Fail(kExitRefused, std::string(ended.status().message()) +
                                  (caps.ok() ? "" : "; " + std::string(caps.message())));
  }
  if (!ended->ended) {
    return Fail(kExitRefused, "no sshd session of " + user + " from " + address + " port " +
                                  std::to_string(port) +
                                  (caps.ok() ? "" : " is visible: " + std::string(caps.message())));
  }
  std::cout << "ended the sshd session of " << user << " from " << address << " port " << port
            << "\n";
  if (ended->processes_not_signalled > 0) {
    return Fail(kExitRefused, "but " + std::to_string(ended->processes_not_signalled) +
                                  " of its processes could not be signalled" +
                                  (caps.ok() ? "" : ": " + std::string(caps.message())));
  }
  return kExitOk;
}

std::atomic<keyfleet::agent::WatchClient*> g_client{nullptr};

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  CLI::App app(
      "keyfleet-agent: keeps each local account's ~/.ssh/authorized_keys equal to its desired "
      "state, safely (held directory descriptors, no symlinks, atomic replace), and reports "
      "drift to the controller.",
      "keyfleet-agent");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  app.require_subcommand(1, 1);

  std::string config_path, hostname, cache_path, recheck, log_level, log_format, root;
  std::optional<std::string> metrics_textfile;  // given on the command line ("" too)
  std::vector<std::string> controllers;
  std::vector<std::string> labels;
  bool once = false;
  bool allow_root = false;
  int min_uid = -1;
  CLI::App* run = app.add_subcommand(
      "run",
      "Enforce the cached desired state, then watch the controller: apply each new state, "
      "report, reconnect with backoff when it is unreachable (the cached state stays "
      "enforced), and re-check the files on a timer.");
  run->add_option("--config", config_path, "YAML config file (see deploy/agent.yaml)");
  run->add_option("--controller", controllers,
                  "Controller address HOST:PORT ([IPV6]:PORT); repeat it or separate addresses "
                  "with commas to give every replica (the agent watches one and fails over to the "
                  "others). Replaces the config file's list (default 127.0.0.1:7443)")
      ->allow_extra_args(false);
  run->add_option("--hostname", hostname, "This host's name (default: gethostname)");
  run->add_option("--label", labels, "A label KEY=VALUE (repeatable)");
  run->add_option("--root", root, "Treat DIR as / (for tests and demos)");
  std::string key_files;
  run->add_option("--key-files", key_files,
                  "home (~/.ssh/authorized_keys), central (/etc/ssh/keyfleet/authorized_keys/USER, "
                  "root-owned: users cannot add keys) or both (default home; see `sshd-config`)");
  std::string sshd_log, sshd_log_format;
  run->add_option("--sshd-log", sshd_log,
                  "Where sshd's authentication log is read, for last use and ending sessions of "
                  "revoked keys: auto (journald when it runs, else /var/log/auth.log), journald, "
                  "off, or a log file's absolute path under --root (default auto)");
  run->add_option("--sshd-log-format", sshd_log_format,
                  "How that file is framed: syslog (auth.log, default) or sshd (sshd -E FILE)");
  std::optional<std::string> revoked_keys_file;  // given on the command line ("" too)
  run->add_option_function<std::string>(
      "--revoked-keys-file", [&](const std::string& path) { revoked_keys_file = path; },
      "The OpenSSH KRL of the fleet's revoked keys kept for sshd's RevokedKeys, under --root "
      "(default /etc/ssh/keyfleet/revoked.krl; \"\" keeps none; see `sshd-config`)");
  run->add_option("--cache", cache_path,
                  "Cache prefix: the last applied state lives in PREFIX.0 and PREFIX.1 "
                  "(default /var/lib/keyfleet/agent-cache)");
  run->add_option("--recheck-interval", recheck, "Re-check files this often (default 5m)");
  run->add_option("--min-uid", min_uid, "Refuse accounts below this uid (default 1000)");
  run->add_flag("--allow-root", allow_root, "Allow uid 0 and accounts below --min-uid");
  run->add_flag("--once", once,
                "Apply the controller's current state once, report, exit (3 when the controller "
                "cannot be reached; the cached state is still enforced)");
  run->add_option("--log-level", log_level, "trace, debug, info, warn or error");
  run->add_option("--log-format", log_format,
                  "text (default) or json: one JSON object per line (time, level, logger, msg)");
  run->add_option_function<std::string>(
      "--metrics-textfile", [&](const std::string& path) { metrics_textfile = path; },
      std::string("node_exporter textfile to keep current, under --root, written only while its "
                  "directory exists; \"\" for none (default ") +
          keyfleet::agent::kDefaultMetricsTextfile + ")");

  std::string tls_dir;
  bool insecure_dev = false;
  run->add_option("--tls-dir", tls_dir,
                  "Where enroll saved the host key, certificate and CA (default "
                  "/var/lib/keyfleet/tls)");
  run->add_flag("--insecure-dev", insecure_dev,
                "Plaintext to a controller started with --insecure-dev; the host is named by "
                "--hostname and labelled by --label (development only)");

  keyfleet::agent::EnrollOptions enroll_options;
  std::string enroll_timeout;
  std::vector<std::string> enroll_controllers;
  CLI::App* enroll = app.add_subcommand(
      "enroll",
      "Join this host to the fleet once: pin the controller's CA by its hash, generate the "
      "host's private key here (it never leaves the host), and get a client certificate for it "
      "with a join token from `keyfleet host token create`. Writes TLS_DIR/host.pem (0600) and "
      "TLS_DIR/ca.pem. Run again with a new token after the certificate expired.");
  enroll
      ->add_option("--controller", enroll_controllers,
                   "Controller address HOST:PORT ([IPV6]:PORT); repeat it or separate addresses "
                   "with commas: each is tried in turn until one can be reached")
      ->required()
      ->allow_extra_args(false);
  std::string token_file;
  auto* token_opt = enroll->add_option(
      "--token", enroll_options.token,
      "The join token (visible to local users in the process list while enroll runs; prefer "
      "--token-file or $KEYFLEET_JOIN_TOKEN)");
  auto* token_file_opt =
      enroll->add_option("--token-file", token_file, "Read the join token from FILE (- for stdin)");
  token_opt->excludes(token_file_opt);
  enroll
      ->add_option("--ca-hash", enroll_options.ca_pin,
                   "The controller's CA pin, sha256:HEX (printed by `keyfleet host token "
                   "create` and `keyfleet-controller init-ca`)")
      ->required();
  enroll->add_option("--hostname", enroll_options.hostname,
                     "This host's name (default: the name the token was made for; a token made "
                     "without --hostname needs it)");
  enroll_options.tls_dir = AgentConfig().tls_dir;
  enroll->add_option("--tls-dir", enroll_options.tls_dir,
                     "Where to write host.pem and ca.pem (default /var/lib/keyfleet/tls)");
  enroll->add_option("--timeout", enroll_timeout,
                     "Give up on a controller after this long, then try the next (default 30s)");
  std::string enroll_config;
  enroll->add_option("--config", enroll_config,
                     "The agent's YAML config, for revoked_keys_file and root: after enrolling, "
                     "an empty KRL is created there when there is none, so sshd_config may name "
                     "it at once (default /etc/ssh/keyfleet/revoked.krl)");

  std::string desired_path;
  keyfleet::agent::ApplySettings apply_settings;
  CLI::App* apply = app.add_subcommand(
      "apply",
      "Apply a desired state given as JSON (the protobuf JSON form of keyfleet.v1.DesiredState, "
      "e.g. {\"generation\": \"7\", \"accounts\": [{\"account\": \"alice\", \"keys\": "
      "[\"ssh-ed25519 AAAA… alice\"], \"exclusive\": false}]}) once, offline, and print what was "
      "done and the drift as JSON. Exit 0 when every account was applied, 1 when one was "
      "refused or failed.");
  apply->add_option("--desired", desired_path, "Desired state JSON file, or - for stdin")
      ->required();
  apply->add_option("--root", apply_settings.root,
                    "Treat DIR as / (accounts from DIR/etc/passwd, homes inside DIR)");
  apply->add_option("--min-uid", apply_settings.accounts.min_uid,
                    "Refuse accounts below this uid (default 1000)");
  apply->add_flag("--allow-root", apply_settings.accounts.allow_root,
                  "Allow uid 0 and accounts below --min-uid");
  std::string apply_key_files;
  apply->add_option("--key-files", apply_key_files,
                    "home (default), central (DIR/etc/ssh/keyfleet/authorized_keys/USER) or both");
  apply->add_option("--keys-index-dir", apply_settings.keys_index_dir,
                    "Also keep the keys index for `authorized-keys-command --fingerprint` in this "
                    "directory, under --root (default: none)");

  std::string user;
  std::string akc_cache = AgentConfig().cache_path;
  CLI::App* akc = app.add_subcommand(
      "authorized-keys-command",
      "Print USER's managed authorized_keys lines for sshd's AuthorizedKeysCommand (no "
      "network): all of them from the local cache, or with --fingerprint only the offered "
      "key's, from the keys index. Prints nothing and exits non-zero, saying why on stderr, "
      "when it cannot trust or read what it needs. `sshd-config --command` prints the lines.");
  akc->add_option("USER", user, "The account sshd asks about")->required();
  akc->add_option("--cache", akc_cache,
                  "Cache prefix, as given to `run` (default /var/lib/keyfleet/agent-cache)");
  std::string akc_fingerprint;
  std::string akc_index_dir = keyfleet::agent::kDefaultKeysIndexDir;
  akc->add_option("--fingerprint", akc_fingerprint,
                  "The offered key's fingerprint, SHA256:BASE64 (sshd's %f): print only its lines, "
                  "looked up in the keys index (a few reads whatever the number of keys) instead "
                  "of every line from the cache");
  akc->add_option("--index-dir", akc_index_dir,
                  "The agent's keys_index_dir, the real path (default "
                  "/var/lib/keyfleet/keys-index); every directory on it and the file must be "
                  "root-owned and not writable by group or others");

  std::string sshd_config_path;
  bool sshd_check = false;
  bool sshd_command = false;
  std::string sshd_path = "/usr/sbin/sshd";
  std::string sshd_config_file;
  std::string sshd_connection;
  CLI::App* sshd_config = app.add_subcommand(
      "sshd-config",
      "Print the sshd_config lines this agent's settings need (RevokedKeys for its KRL, the "
      "AuthorizedKeysFile of its key_files mode, with --command the AuthorizedKeysCommand "
      "lines). With --check, verify the running configuration (`sshd -T`, as root) against the "
      "files the agent keeps: one line per check, exit 1 when one fails.");
  sshd_config->add_option("--config", sshd_config_path, "The agent's YAML config file");
  sshd_config->add_flag("--command", sshd_command,
                        "Also print AuthorizedKeysCommand lines (the indexed lookup with %f)");
  sshd_config->add_flag("--check", sshd_check, "Check the running configuration instead");
  sshd_config->add_option("--sshd", sshd_path, "The sshd binary (default /usr/sbin/sshd)");
  sshd_config->add_option("--sshd-config", sshd_config_file,
                          "sshd's configuration file (default: sshd's own, /etc/ssh/sshd_config)");
  sshd_config->add_option("--connection", sshd_connection,
                          "user=USER,host=HOST,addr=ADDR: the connection sshd -T evaluates Match "
                          "blocks for (sshd's -C); without it, the settings outside Match blocks");

  std::string end_user, end_address;
  int end_port = 0;
  int end_pid = 0;
  CLI::App* end_session = app.add_subcommand(
      "end-session",
      "End USER's sshd session from ADDRESS:PORT now, as `run` ends the sessions of a key "
      "revoked with --kill-sessions: the sshd monitor holding that connection (\"sshd: USER "
      "[priv]\", root) is found through /proc and the kernel's socket tables, checked again "
      "through a pidfd so a reused PID is never signalled, sent SIGTERM, and the session's "
      "processes below it SIGHUP and SIGTERM. Needs root with CAP_SYS_PTRACE and CAP_KILL. Exit "
      "0 when ended, 1 when there is no such session or part of it could not be ended.");
  end_session->add_option("USER", end_user, "The account the session logged into")->required();
  end_session->add_option("ADDRESS", end_address, "The client's address, as sshd logs it")
      ->required();
  end_session->add_option("PORT", end_port, "The client's port, as sshd logs it")->required();
  end_session->add_option("--pid", end_pid,
                          "Only this process (the PID sshd's log line names) may be the monitor");
  CLI11_PARSE(app, argc, argv);

  if (end_session->parsed()) return EndSession(end_user, end_address, end_port, end_pid);

  if (apply->parsed()) {
    if (!apply_key_files.empty()) {
      auto mode = keyfleet::agent::ParseKeyFilesMode(apply_key_files);
      if (!mode.ok()) {
        return Fail(kExitUsage, "--key-files: " + std::string(mode.status().message()));
      }
      apply_settings.key_files = *mode;
    }
    if (auto s = keyfleet::agent::ValidateHostPathSetting("--keys-index-dir",
                                                          apply_settings.keys_index_dir);
        !s.ok()) {
      return Fail(kExitUsage, std::string(s.message()));
    }
    return Apply(desired_path, apply_settings);
  }
  if (enroll->parsed()) {
    auto parsed = keyfleet::agent::ParseControllerList(enroll_controllers);
    if (!parsed.ok())
      return Fail(kExitUsage, "--controller: " + std::string(parsed.status().message()));
    enroll_options.controllers = *std::move(parsed);
    if (!token_file.empty()) {
      std::stringstream text;
      if (token_file == "-") {
        text << std::cin.rdbuf();
      } else {
        std::ifstream in(token_file);
        if (!in) return Fail(kExitUsage, "cannot read " + token_file);
        text << in.rdbuf();
      }
      enroll_options.token = text.str();
      // One trailing newline (as `echo` or an editor leaves it) is not part of the token.
      if (!enroll_options.token.empty() && enroll_options.token.back() == '\n') {
        enroll_options.token.pop_back();
      }
    } else if (enroll_options.token.empty()) {
      if (const char* env = std::getenv("KEYFLEET_JOIN_TOKEN")) enroll_options.token = env;
    }
    if (enroll_options.token.empty()) {
      return Fail(kExitUsage,
                  "a join token is needed: --token-file FILE, $KEYFLEET_JOIN_TOKEN or --token");
    }
    AgentConfig enroll_agent_config;
    if (!enroll_config.empty()) {
      auto loaded = keyfleet::agent::LoadAgentConfigFile(enroll_config, enroll_agent_config);
      if (!loaded.ok()) return Fail(kExitUsage, std::string(loaded.status().message()));
      enroll_agent_config = *loaded;
    }
    return Enroll(enroll_options, enroll_timeout, enroll_agent_config);
  }
  if (akc->parsed()) {
    if (akc->count("--index-dir") > 0 && akc_fingerprint.empty()) {
      return Fail(kExitUsage, "--index-dir is read only with --fingerprint");
    }
    return AuthorizedKeysCommand(user, akc_cache, akc_fingerprint, akc_index_dir);
  }
  if (sshd_config->parsed()) {
    return SshdConfig(sshd_config_path, sshd_command, sshd_check, sshd_path, sshd_config_file,
                      sshd_connection);
  }

  AgentConfig config;
  if (!config_path.empty()) {
    auto loaded = keyfleet::agent::LoadAgentConfigFile(config_path, config);
    if (!loaded.ok()) return Fail(kExitUsage, std::string(loaded.status().message()));
    config = *loaded;
  }
  if (!controllers.empty()) {
    auto parsed = keyfleet::agent::ParseControllerList(controllers);
    if (!parsed.ok())
      return Fail(kExitUsage, "--controller: " + std::string(parsed.status().message()));
    config.controllers = *std::move(parsed);
  }
  if (!hostname.empty()) config.hostname = hostname;
  if (!root.empty()) config.root = root;
  if (!key_files.empty()) {
    auto mode = keyfleet::agent::ParseKeyFilesMode(key_files);
    if (!mode.ok()) return Fail(kExitUsage, "--key-files: " + std::string(mode.status().message()));
    config.key_files = *mode;
  }
  if (!sshd_log.empty()) config.sshd_log = sshd_log;
  if (!sshd_log_format.empty()) config.sshd_log_format = sshd_log_format;
  if (auto s = keyfleet::agent::ValidateSshdLogSettings(config.sshd_log, config.sshd_log_format);
      !s.ok()) {
    return Fail(kExitUsage, std::string(s.message()));
  }
  if (revoked_keys_file) {
    if (!revoked_keys_file->empty()) {
      if (auto s =
              keyfleet::agent::ValidateHostPathSetting("--revoked-keys-file", *revoked_keys_file);
          !s.ok()) {
        return Fail(kExitUsage, std::string(s.message()));
      }
    }
    config.revoked_keys_file = *revoked_keys_file;
  }
  if (!cache_path.empty()) config.cache_path = cache_path;
  if (!log_level.empty()) config.log_level = log_level;
  if (!log_format.empty()) {
    auto format = keyfleet::ParseLogFormat(log_format);
    if (!format.ok()) {
      return Fail(kExitUsage, "--log-format: " + std::string(format.status().message()));
    }
    config.log_format = *format;
  }
  if (metrics_textfile) {
    if (auto s = keyfleet::agent::ValidateMetricsTextfile(*metrics_textfile); !s.ok()) {
      return Fail(kExitUsage, "--metrics-textfile: " + std::string(s.message()));
    }
    config.metrics_textfile = *metrics_textfile;
  }
  if (!tls_dir.empty()) config.tls_dir = tls_dir;
  if (insecure_dev) config.insecure_dev = true;
  if (min_uid >= 0) config.accounts.min_uid = static_cast<uid_t>(min_uid);
  if (allow_root) config.accounts.allow_root = true;
  if (!recheck.empty()) {
    auto d = keyfleet::ParseDurationText(recheck);
    if (!d.ok())
      return Fail(kExitUsage, "--recheck-interval: " + std::string(d.status().message()));
    config.recheck_interval = *d;
  }
  for (const std::string& label : labels) {
    size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(kExitUsage, "--label wants KEY=VALUE, got \"" + label + "\"");
    }
    config.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  if (config.hostname.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof(buf) - 1);
    config.hostname = buf;
  }
  if (config.insecure_dev) {
    // Plaintext carries who may log in here, unauthenticated: only ever over loopback.
    for (const std::string& address : config.controllers) {
      if (!keyfleet::tls::IsLoopbackAddress(address)) {
        return Fail(kExitUsage,
                    "insecure_dev talks plaintext and trusts whatever answers: it "
                    "only connects to a loopback controller (127.0.0.1, [::1], "
                    "localhost), not " +
                        address);
      }
    }
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  keyfleet::SetLogFormat(config.log_format, "keyfleet-agent");
  if (!config.insecure_dev && !config.labels.empty()) {
    spdlog::warn(
        "labels in the agent's config are ignored: a host's labels come from its join "
        "token and from `keyfleet host label`");
  }
  // Blocked in every thread (they inherit the mask); the signal thread takes them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  keyfleet::agent::Reconciler reconciler(keyfleet::agent::ReconcilerSettingsOf(config));
  keyfleet::agent::WatchClient client(config, reconciler);
  // Logins from sshd's log: last use for the controller, live sessions to end on a revocation.
  keyfleet::SystemClock clock;
  std::unique_ptr<keyfleet::agent::SshdActivity> activity;
  if (std::optional<keyfleet::agent::AuthLogSettings> log = keyfleet::agent::AuthLogSettingsFor(
          config.sshd_log, config.sshd_log_format, config.root)) {
    activity = std::make_unique<keyfleet::agent::SshdActivity>(*std::move(log), clock);
    client.SetSshdActivity(activity.get());
    reconciler.SetSessionEnder([a = activity.get()](const std::vector<std::string>& digests) {
      return a->EndSessions(digests);
    });
    if (absl::Status s = keyfleet::agent::CheckSessionEndingCapabilities(); !s.ok()) {
      spdlog::warn("{}: a revocation with kill_sessions will not end sessions here",
                   std::string(s.message()));
    }
  } else if (config.sshd_log == "auto") {
    spdlog::info(
        "no sshd log found (journald is not running and there is no /var/log/auth.log): last "
        "use is not reported and sessions of revoked keys cannot be ended; set sshd_log");
  }
  std::unique_ptr<keyfleet::agent::AgentTextfile> textfile;
  if (!config.metrics_textfile.empty()) {
    using keyfleet::agent::AgentTextfile;
    textfile = std::make_unique<AgentTextfile>(
        AgentTextfile::Sources{keyfleet::agent::UnderRoot(config.root, config.metrics_textfile),
                               config.cache_path, config.insecure_dev ? "" : config.tls_dir,
                               [&client] { return client.watching().has_value(); }});
    reconciler.SetApplyObserver(
        [t = textfile.get()](const keyfleet::agent::ApplyReport& report) { t->Applied(report); });
  }
  auto started = reconciler.Start();
  if (!started.ok()) return Fail(kExitRefused, std::string(started.status().message()));
  if (once) {
    absl::Status s = client.RunOnce(absl::Seconds(30));
    if (textfile) textfile->WriteNow();
    if (!s.ok()) return Fail(kExitUnreachable, std::string(s.message()));
    return kExitOk;
  }
  if (textfile) textfile->Start();
  if (activity) activity->Start();
  g_client = &client;
  std::thread signals([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    if (auto* c = g_client.load()) c->Stop();
  });
  client.Run();
  g_client = nullptr;
  if (textfile) textfile->Stop();
  signals.detach();
  return kExitOk;
}
