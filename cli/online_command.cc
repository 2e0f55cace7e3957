#include "cli/online_command.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/duration_text.h"

namespace keyfleet::cli {

int WithClient(const GlobalOptions& globals, const std::function<int(ControllerClient&)>& body) {
  absl::StatusOr<ClientCredentials> credentials = ResolveCredentials(globals);
  if (!credentials.ok()) return UsageError(std::string(credentials.status().message()));
  ControllerClient client(globals, *std::move(credentials));
  return body(client);
}

void OnRun(CLI::App* cmd, const GlobalOptions& globals, int& exit_code,
           std::function<int(ControllerClient&)> body) {
  cmd->callback(
      [&globals, &exit_code, body = std::move(body)] { exit_code = WithClient(globals, body); });
}

int PrintMutation(const GlobalOptions& globals, const std::string& message,
                  const v1::MutationResponse& response) {
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(response) << "\n";
  } else if (response.change() == 0) {
    std::cout << message << " (nothing changed)\n";
  } else {
    std::cout << message << " (change " << response.change() << ")\n";
  }
  return kExitOk;
}

absl::StatusOr<absl::Time> ParseWhen(const std::string& text, absl::Time now, bool past) {
  if (absl::StatusOr<absl::Duration> d = ParseDurationText(text); d.ok()) {
    return past ? now - *d : now + *d;
  }
  for (const char* format : {"%Y-%m-%d", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"}) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text,
                   "\" is not a time: use 2026-12-31, 2026-12-31T18:00Z (UTC) or a duration such "
                   "as 30d"));
}

int UsageError(const std::string& message) {
  std::cerr << "keyfleet: " << message << "\n";
  return kExitUsage;
}

}  // namespace keyfleet::cli
