// Shared plumbing for the commands that call the controller: run a body with a client and set
// the exit code; print a mutation's result; parse times and durations given on the command line.
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/controller_client.h"
#include "cli/global_options.h"

namespace keyfleet::cli {

// Builds a ControllerClient (TLS per ResolveCredentials) and returns `body`'s exit code; a
// missing or unreadable CA is a usage error (2) before any connection.
int WithClient(const GlobalOptions& globals, const std::function<int(ControllerClient&)>& body);

// Sets `cmd`'s callback: WithClient(body), its return stored in `exit_code`.
void OnRun(CLI::App* cmd, const GlobalOptions& globals, int& exit_code,
           std::function<int(ControllerClient&)> body);

// Prints a committed mutation: `message` and its change number (table) or the response (json).
int PrintMutation(const GlobalOptions& globals, const std::string& message,
                  const v1::MutationResponse& response);

// "2026-12-31", "2026-12-31T18:00Z", "2026-12-31T18:00:00Z" (UTC), or a duration from now
// ("30d"; with `past`, that long ago). INVALID_ARGUMENT saying what is accepted otherwise.
absl::StatusOr<absl::Time> ParseWhen(const std::string& text, absl::Time now, bool past);

// Prints "keyfleet: MESSAGE" to stderr and returns kExitUsage.
int UsageError(const std::string& message);

}  // namespace keyfleet::cli
