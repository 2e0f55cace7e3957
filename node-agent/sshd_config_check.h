// `keyfleet-agent sshd-config`: the sshd_config lines this agent's settings need, and `--check`:
// the running configuration (`sshd -T`) against the files the agent keeps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node-agent/agent_config.h"

namespace keyfleet::agent {

struct SshdConfigOptions {
  std::string agent_binary = "/usr/bin/keyfleet-agent";  // for AuthorizedKeysCommand
  bool command = false;  // also print the AuthorizedKeysCommand lines
};

// The lines to add to sshd_config, each followed by a "# why" comment line before it.
std::string RenderSshdConfigLines(const AgentConfig& config, const SshdConfigOptions& options);

// `sshd -T` output: one "keyword value…" per line, keywords in lower case. Returns keyword ->
// the rest of the line; a keyword sshd prints several times (e.g. hostkey) keeps its lines
// joined by '\n'. INVALID_ARGUMENT for output that is not of that form (an empty line, a
// keyword with characters other than [a-z0-9], no value).
absl::StatusOr<std::map<std::string, std::string>> ParseSshdEffectiveConfig(absl::string_view text);

struct SshdCheck {
  bool ok = false;
  std::string message;  // what was found; for a problem, what to change
};

// Checks `effective` (from ParseSshdEffectiveConfig) against `config`: RevokedKeys names the
// agent's KRL, which is a regular root-owned file not writable by group or others that parses
// as a KRL (paths under config.root); AuthorizedKeysFile reads the central
// files in central and both modes, the home files in home and both modes, and no home file in
// central mode (users could add their own keys).
std::vector<SshdCheck> CheckSshdConfig(const std::map<std::string, std::string>& effective,
                                       const AgentConfig& config);

// Runs `sshd -T` (as `sshd_path`, with `-f config_file` and `-C connection` when not empty)
// and returns its standard output; FAILED_PRECONDITION with its standard error when it fails.
absl::StatusOr<std::string> RunSshdT(const std::string& sshd_path, const std::string& config_file,
                                     const std::string& connection);

}  // namespace keyfleet::agent
