// `keyfleet check-authorized-keys`: what sshd (and keyfleet's key policy) make of each line.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/global_options.h"
#include "common/key_policy.h"

namespace keyfleet::cli {

enum class LineVerdict {
  kAccepted,         // sshd uses the line and the key passes the policy
  kRejected,         // sshd ignores the line, or keyfleet refuses to write it (reason says which)
  kRefusedByPolicy,  // sshd would use it, but the key breaks keyfleet's key policy
  kExpired,          // sshd would refuse it: its expiry-time has passed
};

struct LineCheck {
  size_t line = 0;
  LineVerdict verdict = LineVerdict::kAccepted;
  std::string reason;       // empty when accepted
  std::string key_type;     // short name, e.g. "ED25519"; empty when the line did not parse
  std::string fingerprint;  // SHA256; empty when the line did not parse
  std::string comment;
};

struct CheckOptions {
  bool apply_policy = true;
  KeyPolicy policy = KeyPolicy::Default();
  absl::Time now;
  absl::TimeZone local_zone;
};

// Checks every line that is not blank or a comment.
std::vector<LineCheck> CheckAuthorizedKeys(absl::string_view content, const CheckOptions& options);

absl::string_view LineVerdictName(LineVerdict verdict);

void AddCheckAuthorizedKeysCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
