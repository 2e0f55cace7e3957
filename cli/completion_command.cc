#include "cli/completion_command.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyfleet::cli {
namespace {

// Command paths ("keyfleet key revoke") and option names are words of [a-z0-9-] here, so they
// go into the script as they are; anything else is left out rather than quoted.
bool IsPlainWord(const std::string& word) {
  if (word.empty()) return false;
  for (char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

struct Tables {
  std::string commands;  // bash: [path]="sub sub …"
  std::string options;   // bash: [path]="--opt -o …"
  std::string valued;    // bash: [path]="--opt-taking-a-value …"
};

void Walk(const CLI::App& app, const std::string& path, Tables* out) {
  std::vector<const CLI::App*> subcommands;
  for (const CLI::App* sub : app.get_subcommands(
           [](const CLI::App* a) { return !a->get_group().empty() && !a->get_disabled(); })) {
    if (IsPlainWord(sub->get_name())) subcommands.push_back(sub);
  }
  std::vector<std::string> subs;
  for (const CLI::App* sub : subcommands) subs.push_back(sub->get_name());
  std::vector<std::string> options;
  std::vector<std::string> valued;
  for (const CLI::Option* opt : app.get_options(
           [](const CLI::Option* o) { return o->nonpositional() && !o->get_group().empty(); })) {
    std::vector<std::string> names;
    for (const std::string& l : opt->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : opt->get_snames()) names.push_back("-" + s);
    for (const std::string& name : names) {
      if (!IsPlainWord(name)) continue;
      options.push_back(name);
      if (opt->get_type_size_max() > 0 && opt->get_expected_min() > 0) valued.push_back(name);
    }
  }
  absl::StrAppend(&out->commands, "  [\"", path, "\"]=\"", absl::StrJoin(subs, " "), "\"\n");
  absl::StrAppend(&out->options, "  [\"", path, "\"]=\"", absl::StrJoin(options, " "), "\"\n");
  absl::StrAppend(&out->valued, "  [\"", path, "\"]=\"", absl::StrJoin(valued, " "), "\"\n");
  for (const CLI::App* sub : subcommands) Walk(*sub, absl::StrCat(path, " ", sub->get_name()), out);
}

// The completion function: finds the command path among the words before the cursor (skipping
// option values), then offers that command's subcommands, or its options after "-". After an
// option that takes a value it offers nothing itself, so `complete -o default` falls back to
// file names (most values here are files: --ca, --token-file, key files).
constexpr char kBashFunction[] = R"(_keyfleet() {
  # zsh (through bashcompinit) counts array elements from 1 and splits no words unless told.
  [[ -n "${ZSH_VERSION-}" ]] && setopt localoptions ksharrays shwordsplit
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local path=keyfleet word i skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    if [[ " ${_keyfleet_valued[$path]} " == *" $word "* ]]; then skip=1; continue; fi
    if [[ " ${_keyfleet_commands[$path]} " == *" $word "* ]]; then path="$path $word"; fi
  done
  COMPREPLY=()
  if ((skip)); then return 0; fi
  local candidates="${_keyfleet_commands[$path]}"
  [[ "$cur" == -* ]] && candidates="${_keyfleet_options[$path]}"
  # Filtered here, not by compgen: zsh's compgen leaves that to its completion system.
  for word in $candidates; do
    [[ "$word" == "$cur"* ]] && COMPREPLY+=("$word")
  done
  return 0
}
complete -o default -F _keyfleet keyfleet
)";

}  // namespace

std::string BashCompletionScript(const CLI::App& app) {
  Tables tables;
  Walk(app, "keyfleet", &tables);
  return absl::StrCat(
      "# bash completion for keyfleet (made by `keyfleet completion bash`)\n"
      "# Install: keyfleet completion bash > /usr/share/bash-completion/completions/keyfleet\n"
      "# or add `source <(keyfleet completion bash)` to ~/.bashrc.\n"
      "declare -gA _keyfleet_commands=(\n",
      tables.commands, ")\ndeclare -gA _keyfleet_options=(\n", tables.options,
      ")\ndeclare -gA _keyfleet_valued=(\n", tables.valued, ")\n", kBashFunction);
}

std::string ZshCompletionScript(const CLI::App& app) {
  // zsh runs bash completion functions through bashcompinit (part of zsh itself); the tables
  // and the function are the bash script's, so the two shells always offer the same words.
  return absl::StrCat(
      "#compdef keyfleet\n"
      "# zsh completion for keyfleet (made by `keyfleet completion zsh`)\n"
      "# Install: keyfleet completion zsh > \"${fpath[1]}/_keyfleet\" (or\n"
      "# /usr/share/zsh/vendor-completions/_keyfleet), or add `source <(keyfleet completion zsh)`\n"
      "# to ~/.zshrc after compinit.\n"
      "autoload -U +X bashcompinit && bashcompinit\n",
      BashCompletionScript(app));
}

void AddCompletionCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "completion",
      "Print a shell completion script for keyfleet: `source <(keyfleet completion bash)`, or "
      "save it as /usr/share/bash-completion/completions/keyfleet (zsh: "
      "/usr/share/zsh/vendor-completions/_keyfleet)");
  auto shell = std::make_shared<std::string>();
  cmd->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  cmd->callback([&app, shell] {
    std::cout << (*shell == "zsh" ? ZshCompletionScript(app) : BashCompletionScript(app));
  });
}

}  // namespace keyfleet::cli
