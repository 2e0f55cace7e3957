// `keyfleet completion bash|zsh`: a shell completion script made from the command tree itself
// (every command, subcommand and option CLI11 knows), so it never falls behind the CLI.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace keyfleet::cli {

// The bash script for `app`'s tree: commands and subcommands by prefix, each command's options
// after "-", and the shell's own file completion for an option's value.
std::string BashCompletionScript(const CLI::App& app);

// The zsh script: the bash one under zsh's bashcompinit, wrapped as a `#compdef` function file.
std::string ZshCompletionScript(const CLI::App& app);

// Adds the `completion` command to `app`; it prints the script for the whole tree of `app` as it
// stands when the command runs.
void AddCompletionCommand(CLI::App& app);

}  // namespace keyfleet::cli
