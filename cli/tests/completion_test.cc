// `keyfleet completion bash|zsh`: the scripts the real binary prints, loaded into a real bash and
// zsh, offer the right words for a command line typed so far.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/run_command.h"

namespace keyfleet::cli {
namespace {

using ::keyfleet::testing::CommandResult;
using ::keyfleet::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;

class CompletionTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string shell = GetParam();
    if (shell == "zsh") {
      ASSERT_EQ(RunCommand("command -v zsh >/dev/null").exit_code, 0)
          << "zsh is not installed (deploy/install-deps.sh installs it)";
    }
    script_ = (std::filesystem::temp_directory_path() /
               ("keyfleet-completion-" + shell + "-" + std::to_string(getpid())))
                  .string();
    CommandResult made =
        RunCommand(std::string(KEYFLEET_CLI) + " completion " + shell + " > " + script_);
    ASSERT_EQ(made.exit_code, 0) << made.out;
  }
  void TearDown() override { std::filesystem::remove(script_); }

  // The words offered for `line` (the last word being completed; "" for a new word), one per
  // line, as the shell computes them.
  std::string Complete(const std::string& line) {
    const std::string shell = GetParam();
    // Words as the shell splits them: the line, plus an empty word when it ends in a space.
    std::string words = "(" + line + (line.back() == ' ' ? "''" : "") + ")";
    std::string body = "source " + script_ + "; COMP_WORDS=" + words +
                       "; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _keyfleet; printf '%s\\n' "
                       "\"${COMPREPLY[@]}\"";
    if (shell == "zsh") {
      // What bashcompinit gives the function: 0-based positions (it sets ksharrays itself).
      // compdef is compinit's; a stub spares its fpath scan (seconds) and changes nothing here.
      body = "compdef() { :; }; setopt ksharrays; " + body;
      return RunCommand("zsh -f -c '" + Escape(body) + "' 2>&1").out;
    }
    return RunCommand("bash --norc -c '" + Escape(body) + "' 2>&1").out;
  }

  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }

  std::string script_;
};

TEST_P(CompletionTest, OffersCommandsSubcommandsAndOptions) {
  EXPECT_EQ(Complete("keyfleet ke"), "key\n");
  const std::string key_commands = Complete("keyfleet key ");
  EXPECT_THAT(key_commands, HasSubstr("revoke\n"));
  EXPECT_THAT(key_commands, HasSubstr("add\n"));
  EXPECT_THAT(key_commands, Not(HasSubstr("principal")));
  EXPECT_THAT(Complete("keyfleet key revoke --w"), HasSubstr("--wait"));
  // Global options before the command; a command's own after it.
  EXPECT_THAT(Complete("keyfleet --con"), HasSubstr("--controller"));
  EXPECT_THAT(Complete("keyfleet key revoke --con"), Not(HasSubstr("--controller")));
  // An option's value is not a command: after `--controller host` the commands come again.
  EXPECT_THAT(Complete("keyfleet --controller key "), Not(HasSubstr("revoke")));
  EXPECT_THAT(Complete("keyfleet --controller 127.0.0.1:7443 k"), HasSubstr("key"));
  // A value is the shell's own (file) completion: nothing offered by keyfleet.
  EXPECT_EQ(Complete("keyfleet --ca "), "\n");
  EXPECT_THAT(Complete("keyfleet completion "), HasSubstr(""));
  // Commands added anywhere in the tree are offered with their options: nothing is listed by hand.
  EXPECT_THAT(Complete("keyfleet host "), HasSubstr("status\n"));
  EXPECT_THAT(Complete("keyfleet key reach --"), HasSubstr("--principal\n"));
  EXPECT_THAT(Complete("keyfleet audit --n"), HasSubstr("--newest-first"));
  // Hidden catch-alls are not offered.
  EXPECT_THAT(Complete("keyfleet key "), Not(HasSubstr("stray")));
}

INSTANTIATE_TEST_SUITE_P(Shells, CompletionTest, ::testing::Values("bash", "zsh"));

}  // namespace
}  // namespace keyfleet::cli
