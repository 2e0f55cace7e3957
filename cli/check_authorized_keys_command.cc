#include "cli/check_authorized_keys_command.h"

#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/text_input.h"
#include "common/authorized_keys_line.h"
#include "common/fingerprint.h"
#include "nlohmann/json.hpp"

namespace keyfleet::cli {

absl::string_view LineVerdictName(LineVerdict verdict) {
  switch (verdict) {
    case LineVerdict::kAccepted:
      return "accepted";
    case LineVerdict::kRejected:
      return "rejected";
    case LineVerdict::kRefusedByPolicy:
      return "refused-by-policy";
    case LineVerdict::kExpired:
      return "expired";
  }
  return "unknown";
}

std::vector<LineCheck> CheckAuthorizedKeys(absl::string_view content, const CheckOptions& options) {
  std::vector<LineCheck> checks;
  ForEachLine(content, [&](size_t number, absl::string_view line) {
    if (IsBlankOrCommentLine(line)) return;
    LineCheck check;
    check.line = number;
    auto parsed = ParseAuthorizedKeysLine(line);
    if (!parsed.ok()) {
      check.verdict = LineVerdict::kRejected;
      check.reason = std::string(parsed.status().message());
      checks.push_back(std::move(check));
      return;
    }
    check.key_type = std::string(KeyTypeShortName(parsed->key.type));
    check.fingerprint = Fingerprint(parsed->key);
    check.comment = parsed->key.comment;
    const auto expiry = parsed->options.EarliestExpiry(options.local_zone);
    absl::Status policy = options.apply_policy ? CheckKeyAgainstPolicy(parsed->key, options.policy)
                                               : absl::OkStatus();
    if (expiry && *expiry <= options.now) {
      check.verdict = LineVerdict::kExpired;
      check.reason =
          absl::StrCat("expiry-time passed at ",
                       absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", *expiry, absl::UTCTimeZone()),
                       "; sshd refuses this key");
    } else if (!policy.ok()) {
      check.verdict = LineVerdict::kRefusedByPolicy;
      check.reason = std::string(policy.message());
    }
    checks.push_back(std::move(check));
  });
  return checks;
}

namespace {

std::string FormatText(const std::string& name, const std::vector<LineCheck>& checks) {
  std::string out;
  std::map<LineVerdict, size_t> counts;
  for (const auto& c : checks) {
    ++counts[c.verdict];
    absl::StrAppend(&out, name, ":", c.line, ": ", LineVerdictName(c.verdict));
    if (!c.key_type.empty()) absl::StrAppend(&out, " ", c.key_type, " ", c.fingerprint);
    if (!c.comment.empty()) absl::StrAppend(&out, " ", SanitizeForTerminal(c.comment));
    if (!c.reason.empty()) absl::StrAppend(&out, ": ", SanitizeForTerminal(c.reason));
    out.push_back('\n');
  }
  absl::StrAppend(&out, name, ": ", checks.size(), " key lines: ", counts[LineVerdict::kAccepted],
                  " accepted, ", counts[LineVerdict::kRejected], " rejected, ",
                  counts[LineVerdict::kRefusedByPolicy], " refused by policy, ",
                  counts[LineVerdict::kExpired], " expired\n");
  return out;
}

std::string FormatJson(const std::string& name, const std::vector<LineCheck>& checks) {
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& c : checks) {
    lines.push_back({{"line", c.line},
                     {"verdict", LineVerdictName(c.verdict)},
                     {"reason", c.reason},
                     {"type", c.key_type},
                     {"fingerprint", c.fingerprint},
                     {"comment", c.comment}});
  }
  nlohmann::json doc = {{"file", name}, {"lines", lines}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

void AddCheckAuthorizedKeysCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  struct Args {
    std::string path;
    bool no_policy = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("check-authorized-keys",
                                     "Check each line of an authorized_keys file (offline)");
  cmd->footer(
      "Reports each key line of an authorized_keys FILE as accepted, rejected (sshd would ignore "
      "it, or keyfleet refuses to write it, with the reason), refused-by-policy (the key breaks "
      "keyfleet's default key policy: no DSA, RSA >= 2048 bits) or expired (its expiry-time has "
      "passed). Exit code 0 when every key line is accepted, 1 otherwise.");
  cmd->add_option("FILE", args->path, "authorized_keys file, or - for standard input")->required();
  cmd->add_flag("--no-policy", args->no_policy,
                "Check only what sshd accepts; do not apply keyfleet's key policy");
  cmd->callback([args, &globals, &exit_code] {
    auto content = ReadTextInput(args->path);
    if (!content.ok()) {
      std::cerr << "keyfleet check-authorized-keys: " << content.status().message() << "\n";
      exit_code = kExitRefused;
      return;
    }
    CheckOptions options;
    options.apply_policy = !args->no_policy;
    options.now = absl::Now();
    options.local_zone = absl::LocalTimeZone();
    const auto checks = CheckAuthorizedKeys(*content, options);
    const std::string name = DisplayName(args->path);
    std::cout << (globals.output == OutputFormat::kJson ? FormatJson(name, checks)
                                                        : FormatText(name, checks));
    exit_code = kExitOk;
    for (const auto& c : checks) {
      if (c.verdict != LineVerdict::kAccepted) exit_code = kExitRefused;
    }
  });
}

}  // namespace keyfleet::cli
