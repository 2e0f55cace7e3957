// keyfleet-agent settings: defaults, then the YAML file (--config), then flags.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node-agent/accounts.h"

namespace keyfleet::agent {

struct AgentConfig {
  std::string controller = "127.0.0.1:7443";
  std::string hostname;  // default: gethostname()
  std::map<std::string, std::string> labels;
  AccountPolicy accounts;
  std::string cache_path = "/var/lib/keyfleet/agent-cache";
  std::string root = "/";
  absl::Duration recheck_interval = absl::Minutes(5);
  std::string log_level = "info";
};

// Keys: controller, hostname, labels (mapping), min_uid, allow_root, cache_path, root,
// recheck_interval ("5m"), log_level. Unknown keys and bad values are errors naming the key.
absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text, AgentConfig base);
absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path, AgentConfig base);

}  // namespace keyfleet::agent
