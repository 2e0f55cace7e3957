#include "node-agent/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/duration_text.h"
#include "common/host_names.h"

namespace keyfleet::agent {

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text, AgentConfig config) {
  static const std::set<std::string> kKeys = {
      "controller", "hostname",         "labels",    "min_uid", "allow_root",  "cache_path",
      "root",       "recheck_interval", "log_level", "tls_dir", "insecure_dev"};
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return absl::InvalidArgumentError("the config must be a YAML mapping");
    for (const auto& item : root) {
      const std::string key = item.first.as<std::string>();
      if (!kKeys.count(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown setting \"", key, "\"; known: ", absl::StrJoin(kKeys, ", ")));
      }
    }
    if (root["controller"]) config.controller = root["controller"].as<std::string>();
    if (root["hostname"]) config.hostname = root["hostname"].as<std::string>();
    if (root["labels"]) {
      config.labels = root["labels"].as<std::map<std::string, std::string>>();
      if (auto s = ValidateLabels(config.labels); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("labels: ", s.message()));
      }
    }
    if (root["min_uid"]) config.accounts.min_uid = root["min_uid"].as<uid_t>();
    if (root["allow_root"]) config.accounts.allow_root = root["allow_root"].as<bool>();
    if (root["cache_path"]) config.cache_path = root["cache_path"].as<std::string>();
    if (root["root"]) config.root = root["root"].as<std::string>();
    if (root["log_level"]) config.log_level = root["log_level"].as<std::string>();
    if (root["tls_dir"]) config.tls_dir = root["tls_dir"].as<std::string>();
    if (root["insecure_dev"]) config.insecure_dev = root["insecure_dev"].as<bool>();
    if (root["recheck_interval"]) {
      auto d = ParseDurationText(root["recheck_interval"].as<std::string>());
      if (!d.ok())
        return absl::InvalidArgumentError(absl::StrCat("recheck_interval: ", d.status().message()));
      config.recheck_interval = *d;
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
}

absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path, AgentConfig base) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseAgentConfig(ss.str(), std::move(base));
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace keyfleet::agent
