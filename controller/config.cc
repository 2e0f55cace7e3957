#include "controller/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/duration_text.h"
#include "common/key_policy.h"
#include "common/ssh_key_type.h"
#include "common/status_macros.h"
#include "controller/dashboard/dashboard_server.h"
#include "controller/inventory_validation.h"
#include "controller/metrics/http_server.h"

namespace keyfleet::controller {
namespace {

absl::Status CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed,
                       const std::string& where) {
  for (const auto& item : map) {
    const std::string key = item.first.as<std::string>();
    if (!allowed.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown setting \"", where, key,
                                                     "\"; known: ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

const std::set<std::string>& TopLevelKeys() {
  static const std::set<std::string> keys = {"database",
                                             "listen",
                                             "db_pool_size",
                                             "db_retry_budget",
                                             "migrate_on_start",
                                             "heartbeat_interval",
                                             "feed_poll_interval",
                                             "host_stale_after",
                                             "log_level",
                                             "log_format",
                                             "metrics_listen",
                                             "dashboard_listen",
                                             "policy",
                                             "ca_dir",
                                             "tls_names",
                                             "insecure_dev",
                                             "host_certificate_lifetime",
                                             "server_certificate_lifetime",
                                             "bootstrap_token_file",
                                             "notifications",
                                             "notify_scan_interval"};
  return keys;
}

absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const std::string& key) {
  absl::StatusOr<absl::Duration> d = ParseDurationText(node.as<std::string>());
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", d.status().message()));
  return *d;
}

}  // namespace

absl::StatusOr<ControllerConfig> ParseControllerConfig(const std::string& yaml_text,
                                                       ControllerConfig config) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return absl::InvalidArgumentError("the config must be a YAML mapping");
    KF_RETURN_IF_ERROR(CheckKeys(root, TopLevelKeys(), ""));
    if (root["database"]) config.database = root["database"].as<std::string>();
    if (root["listen"]) config.listen = root["listen"].as<std::string>();
    if (root["db_pool_size"]) config.db_pool_size = root["db_pool_size"].as<size_t>();
    if (root["db_retry_budget"]) {
      KF_ASSIGN_OR_RETURN(config.db_retry_budget,
                          Duration(root["db_retry_budget"], "db_retry_budget"));
    }
    if (root["migrate_on_start"]) config.migrate_on_start = root["migrate_on_start"].as<bool>();
    if (root["heartbeat_interval"]) {
      KF_ASSIGN_OR_RETURN(config.heartbeat_interval,
                          Duration(root["heartbeat_interval"], "heartbeat_interval"));
    }
    if (root["feed_poll_interval"]) {
      KF_ASSIGN_OR_RETURN(config.feed_poll_interval,
                          Duration(root["feed_poll_interval"], "feed_poll_interval"));
    }
    if (root["host_stale_after"]) {
      KF_ASSIGN_OR_RETURN(config.host_stale_after,
                          Duration(root["host_stale_after"], "host_stale_after"));
    }
    if (root["log_level"]) config.log_level = root["log_level"].as<std::string>();
    if (root["log_format"]) {
      KF_ASSIGN_OR_RETURN(config.log_format, ParseLogFormat(root["log_format"].as<std::string>()));
    }
    if (YAML::Node listen = root["metrics_listen"]) {
      // An empty value (null in YAML) is "off", as "" is.
      KF_ASSIGN_OR_RETURN(
          std::optional<std::string> address,
          metrics::ParseMetricsListen(listen.IsNull() ? std::string() : listen.as<std::string>()));
      config.metrics_listen = address.value_or("");
    }
    if (YAML::Node listen = root["dashboard_listen"]) {
      KF_ASSIGN_OR_RETURN(std::optional<std::string> address,
                          dashboard::ParseDashboardListen(
                              listen.IsNull() ? std::string() : listen.as<std::string>()));
      config.dashboard_listen = address.value_or("");
    }
    if (root["ca_dir"]) config.ca_dir = root["ca_dir"].as<std::string>();
    if (root["bootstrap_token_file"]) {
      config.bootstrap_token_file = root["bootstrap_token_file"].as<std::string>();
    }
    if (root["tls_names"]) {
      if (!root["tls_names"].IsSequence() || root["tls_names"].size() == 0) {
        return absl::InvalidArgumentError(
            "tls_names must be a non-empty list of DNS names and IP addresses");
      }
      config.tls_names = root["tls_names"].as<std::vector<std::string>>();
    }
    if (root["insecure_dev"]) config.insecure_dev = root["insecure_dev"].as<bool>();
    if (root["host_certificate_lifetime"]) {
      KF_ASSIGN_OR_RETURN(config.host_certificate_lifetime,
                          Duration(root["host_certificate_lifetime"], "host_certificate_lifetime"));
      // Short enough that a stolen certificate dies on its own; long enough that an agent
      // renewing at two thirds of it survives a controller outage of a third of it.
      if (config.host_certificate_lifetime < absl::Minutes(10) ||
          config.host_certificate_lifetime > absl::Hours(24 * 365)) {
        return absl::InvalidArgumentError(
            "host_certificate_lifetime must be between 10m and 365d (default 30d)");
      }
    }
    if (root["server_certificate_lifetime"]) {
      KF_ASSIGN_OR_RETURN(
          config.server_certificate_lifetime,
          Duration(root["server_certificate_lifetime"], "server_certificate_lifetime"));
    }
    if (root["notifications"]) {
      KF_ASSIGN_OR_RETURN(config.notifications, notify::ParseNotifyConfig(root["notifications"]));
    }
    if (root["notify_scan_interval"]) {
      KF_ASSIGN_OR_RETURN(config.notify_scan_interval,
                          Duration(root["notify_scan_interval"], "notify_scan_interval"));
      if (config.notify_scan_interval < absl::Seconds(1) ||
          config.notify_scan_interval > absl::Hours(24)) {
        return absl::InvalidArgumentError("notify_scan_interval must be between 1s and 24h");
      }
    }
    if (YAML::Node policy = root["policy"]) {
      if (!policy.IsMap()) return absl::InvalidArgumentError("policy must be a mapping");
      KF_RETURN_IF_ERROR(CheckKeys(policy,
                                   {"max_key_age", "warning_window", "rotation_overlap",
                                    "allowed_key_types", "min_rsa_bits", "unmanaged_keys"},
                                   "policy."));
      PolicyRecord& p = config.default_policy;
      if (policy["max_key_age"]) {
        KF_ASSIGN_OR_RETURN(p.max_key_age, Duration(policy["max_key_age"], "policy.max_key_age"));
      }
      if (policy["warning_window"]) {
        KF_ASSIGN_OR_RETURN(p.warning_window,
                            Duration(policy["warning_window"], "policy.warning_window"));
      }
      if (policy["rotation_overlap"]) {
        KF_ASSIGN_OR_RETURN(p.rotation_overlap,
                            Duration(policy["rotation_overlap"], "policy.rotation_overlap"));
      }
      if (policy["allowed_key_types"]) {
        p.key_policy.allowed_types.clear();
        for (const auto& t : policy["allowed_key_types"]) {
          std::optional<KeyType> type = KeyTypeFromName(t.as<std::string>());
          if (!type) {
            return absl::InvalidArgumentError(absl::StrCat(
                "policy.allowed_key_types: unknown key type \"", t.as<std::string>(), "\""));
          }
          p.key_policy.allowed_types.push_back(*type);
        }
      }
      if (policy["min_rsa_bits"]) p.key_policy.min_rsa_bits = policy["min_rsa_bits"].as<uint32_t>();
      if (policy["unmanaged_keys"]) {
        std::optional<UnmanagedKeysMode> mode =
            ParseUnmanagedKeysMode(policy["unmanaged_keys"].as<std::string>());
        if (!mode) {
          return absl::InvalidArgumentError("policy.unmanaged_keys must be keep, report or remove");
        }
        p.unmanaged_keys = *mode;
      }
      absl::Status valid = ValidatePolicy(p);
      if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("policy: ", valid.message()));
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
}

absl::StatusOr<ControllerConfig> LoadControllerConfigFile(const std::string& path,
                                                          ControllerConfig base) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<ControllerConfig> config = ParseControllerConfig(ss.str(), std::move(base));
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace keyfleet::controller
