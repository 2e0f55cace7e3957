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
  // The host's key, certificate and the controller's CA (host_credentials.h).
  std::string tls_dir = "/var/lib/keyfleet/tls";
  // Plaintext to a controller started with --insecure-dev; the hello names the host and its
  // labels (ignored otherwise: labels come from the join token and admins).
  bool insecure_dev = false;
};

// Keys: controller, hostname, labels (mapping), min_uid, allow_root, cache_path, root,
// recheck_interval ("5m"), log_level, tls_dir, insecure_dev. Unknown keys and bad values are errors
// naming the key.
absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text, AgentConfig base);
absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path, AgentConfig base);

}  // namespace keyfleet::agent
