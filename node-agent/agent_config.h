// keyfleet-agent settings: defaults, then the YAML file (--config), then flags.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "keyfleet/v1/agent.pb.h"
#include "node-agent/accounts.h"
#include "node-agent/keys_index_file.h"
#include "node-agent/metrics_textfile.h"
#include "node-agent/reconciler.h"
#include "node-agent/revocation_file.h"  // kDefaultRevokedKeysFile

namespace keyfleet::agent {

// The most controller addresses an agent takes: the replicas of one fleet, not a directory.
inline constexpr size_t kMaxControllers = 16;
inline constexpr char kDefaultController[] = "127.0.0.1:7443";

struct AgentConfig {
  // The controller replicas, HOST:PORT each (ParseControllerList), in no order of preference:
  // the agent watches one at a time and fails over to the others (watch_client.h).
  std::vector<std::string> controllers = {kDefaultController};
  std::string hostname;  // default: gethostname()
  std::map<std::string, std::string> labels;
  AccountPolicy accounts;
  std::string cache_path = "/var/lib/keyfleet/agent-cache";
  std::string root = "/";
  absl::Duration recheck_interval = absl::Minutes(5);
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;  // text | json (common/logging.h)
  // The node_exporter textfile (metrics_textfile.h), taken under `root` like every host path;
  // written only while its directory exists. "" writes none.
  std::string metrics_textfile = kDefaultMetricsTextfile;
  // The host's key, certificate and the controller's CA (host_credentials.h).
  std::string tls_dir = "/var/lib/keyfleet/tls";
  // Where sshd's authentication log is read, for last use and ending sessions
  // (sshd_activity.h): "auto" (journald when it runs, else /var/log/auth.log when it exists,
  // else none), "journald", "off", or the absolute path of a log file, taken under `root`.
  std::string sshd_log = "auto";
  // How a log file is framed: "syslog" (auth.log: "… sshd[PID]: MESSAGE") or "sshd" (what
  // `sshd -E FILE` writes: the bare messages).
  std::string sshd_log_format = "syslog";
  // Plaintext to a controller started with --insecure-dev; the hello names the host and its
  // labels (ignored otherwise: labels come from the join token and admins).
  bool insecure_dev = false;
  // Where managed keys are written (key_files.h): home, central or both.
  v1::KeyFilesMode key_files = v1::KEY_FILES_MODE_HOME;
  // The OpenSSH KRL kept for sshd's RevokedKeys, under `root`; "" keeps none.
  std::string revoked_keys_file = kDefaultRevokedKeysFile;
  // The keys index for `authorized-keys-command --fingerprint` (keys_index_file.h), under
  // `root`; "" keeps none.
  std::string keys_index_dir = kDefaultKeysIndexDir;
};

// One controller address: HOST:PORT where HOST is a DNS name (labels of [A-Za-z0-9-], at most
// 253 bytes, an optional final dot) or an IPv4 address, or [IPV6]:PORT; PORT is 1..65535.
// INVALID_ARGUMENT saying what is wrong and what to write instead; the address is quoted
// escaped and cut short.
absl::Status ValidateControllerAddress(absl::string_view address);

// The addresses in VALUES, each one address or several separated by commas (what `--controller`
// given more than once, or `controller: "a:7443,b:7443"`, gives); blanks around an address are
// ignored. The whole list must hold 1..kMaxControllers valid addresses, none twice (names are
// compared without case, IPv6 addresses in their canonical form). INVALID_ARGUMENT naming the
// offending entry otherwise: an empty one (a doubled or trailing comma), a bad address, a
// duplicate, too many.
absl::StatusOr<std::vector<std::string>> ParseControllerList(
    const std::vector<std::string>& values);

// Keys: controller (an address, comma-separated addresses, or a YAML sequence of addresses),
// hostname, labels (mapping), min_uid, allow_root, cache_path, root, recheck_interval ("5m"),
// log_level, log_format (text, json), metrics_textfile (an absolute path ending in .prom, or
// ""), tls_dir, insecure_dev, key_files (home, central, both), revoked_keys_file and
// keys_index_dir (ValidateHostPathSetting). Unknown keys and bad values are errors naming the key.
// metrics_textfile: "" (none) or an absolute path whose file name ends in .prom (node_exporter
// reads nothing else); INVALID_ARGUMENT saying so otherwise.
absl::Status ValidateMetricsTextfile(absl::string_view path);

// A host path setting (revoked_keys_file, keys_index_dir): "" (none) or an absolute path
// without NUL, "." or ".." components or a trailing '/'; INVALID_ARGUMENT naming `setting`
// otherwise.
absl::Status ValidateHostPathSetting(absl::string_view setting, absl::string_view path);

// sshd_log: "auto", "journald", "off" or an absolute path; sshd_log_format: "syslog" or
// "sshd". INVALID_ARGUMENT naming the setting and what it takes otherwise.
absl::Status ValidateSshdLogSettings(absl::string_view sshd_log, absl::string_view format);

// What the reconciler takes of `config`: the root, account policy, key files mode, keys index,
// cache and KRL.
ReconcilerSettings ReconcilerSettingsOf(const AgentConfig& config);

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text, AgentConfig base);
absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path, AgentConfig base);

}  // namespace keyfleet::agent
