// keyfleet-controller settings: defaults, then the YAML file (--config), then the environment
// (KEYFLEET_DB), then flags.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "controller/model.h"
#include "controller/notify/notify_config.h"

namespace keyfleet::controller {

struct ControllerConfig {
  std::string database;  // libpq URL or keyword string; required
  std::string listen = "127.0.0.1:7443";
  size_t db_pool_size = 8;
  absl::Duration db_retry_budget = absl::Seconds(20);
  bool migrate_on_start = true;
  PolicyRecord default_policy;  // until a policy is set through the API
  absl::Duration heartbeat_interval = absl::Seconds(15);
  absl::Duration feed_poll_interval = absl::Seconds(5);
  absl::Duration host_stale_after = absl::Minutes(15);
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;  // text | json (common/logging.h)
  // The HTTP port for /metrics, /healthz and /readyz (controller/metrics/http_server.h); "" when
  // off. Unset (nullopt): kDefaultMetricsListen, served when that port is free and only warned
  // about when not (several controllers on one machine, as tests and benchmarks run them); set,
  // a port that cannot be bound keeps the controller from starting.
  std::optional<std::string> metrics_listen;
  // The web dashboard's HTTPS address (controller/dashboard/dashboard_server.h); "" (the
  // default) serves none. It needs TLS: off with insecure_dev.
  std::string dashboard_listen;
  // TLS and the CA. The gRPC port always serves TLS with a certificate from the CA in ca_dir
  // (created at the first start when missing), for the names in tls_names; plaintext only
  // with insecure_dev, which refuses any listen address but loopback.
  std::string ca_dir = "/var/lib/keyfleet/ca";
  std::vector<std::string> tls_names = {"localhost", "127.0.0.1", "::1"};
  bool insecure_dev = false;
  absl::Duration host_certificate_lifetime = absl::Hours(24 * 30);
  // Issued at each start and not renewed while running (restart within it; the controller warns
  // daily in its last 30 days).
  absl::Duration server_certificate_lifetime = absl::Hours(24 * 365);
  // The bootstrap admin token, made on a database's first start: read from this file when it
  // exists (a mounted secret), written there (0600) when not; "" prints it once on stderr.
  std::string bootstrap_token_file;
  // $KEYFLEET_BOOTSTRAP_TOKEN (never read from the YAML file: it is a secret): registered as the
  // bootstrap token, e.g. from a Kubernetes Secret through secretKeyRef.
  std::string bootstrap_token;
  // Webhooks and e-mail (notify_config.h); none by default. The outbox is kept either way.
  notify::NotifyConfig notifications;
  // How often expiring and overdue keys, drift, silent hosts and stuck rollouts are looked for.
  absl::Duration notify_scan_interval = absl::Seconds(60);
};

// Reads `yaml_text` over `base`. Unknown keys, wrong types and bad values are errors naming
// the key. Keys: database, listen, db_pool_size, db_retry_budget, migrate_on_start,
// heartbeat_interval, feed_poll_interval, host_stale_after, log_level, log_format (text, json),
// metrics_listen (HOST:PORT, or "off"), dashboard_listen (HOST:PORT, or "off"), ca_dir, tls_names
// (a list), insecure_dev, host_certificate_lifetime, server_certificate_lifetime,
// bootstrap_token_file, notify_scan_interval, notifications (notify/notify_config.h), and
// policy:
// {max_key_age, warning_window, rotation_overlap, allowed_key_types, min_rsa_bits,
// unmanaged_keys}. Durations as "30d", "12h", "15m", "90s".
absl::StatusOr<ControllerConfig> ParseControllerConfig(const std::string& yaml_text,
                                                       ControllerConfig base);
absl::StatusOr<ControllerConfig> LoadControllerConfigFile(const std::string& path,
                                                          ControllerConfig base);

}  // namespace keyfleet::controller
