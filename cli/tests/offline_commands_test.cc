#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/check_authorized_keys_command.h"
#include "cli/fingerprint_command.h"
#include "cli/key_argument.h"
#include "cli/text_input.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet::cli {
namespace {

using ::keyfleet::testing::Vector;
using ::testing::HasSubstr;
using ::testing::Not;

CheckOptions FixedClock() {
  CheckOptions o;
  o.now = absl::FromCivil(absl::CivilDay(2026, 11, 21), absl::UTCTimeZone());
  o.local_zone = absl::UTCTimeZone();
  return o;
}

TEST(CheckAuthorizedKeysTest, EachLineGetsItsVerdict) {
  const std::string content =
      absl::StrCat("# comment\n\n",                           // lines 1-2 skipped
                   Vector("ed25519").line, "\r\n",            // 3 accepted (CRLF)
                   "no-ptyy ", Vector("ed25519").line, "\n",  // 4 rejected
                   Vector("rsa1024").line, "\n",              // 5 policy
                   "expiry-time=\"20260101Z\" ", Vector("ecdsa256").line, "\n",  // 6 expired
                   "expiry-time=\"20270101Z\" ", Vector("ecdsa256").line);  // 7 accepted, no EOL
  const auto checks = CheckAuthorizedKeys(content, FixedClock());
  ASSERT_EQ(checks.size(), 5u);
  EXPECT_EQ(checks[0].line, 3u);
  EXPECT_EQ(checks[0].verdict, LineVerdict::kAccepted);
  EXPECT_EQ(checks[0].fingerprint, Vector("ed25519").sha256);
  EXPECT_EQ(checks[1].verdict, LineVerdict::kRejected);
  EXPECT_THAT(checks[1].reason, HasSubstr("unknown option \"no-ptyy\""));
  EXPECT_EQ(checks[2].verdict, LineVerdict::kRefusedByPolicy);
  EXPECT_THAT(checks[2].reason, HasSubstr("rule: rsa-floor"));
  EXPECT_EQ(checks[3].verdict, LineVerdict::kExpired);
  EXPECT_EQ(checks[4].verdict, LineVerdict::kAccepted);
  EXPECT_EQ(checks[4].line, 7u);

  CheckOptions no_policy = FixedClock();
  no_policy.apply_policy = false;
  EXPECT_EQ(CheckAuthorizedKeys(content, no_policy)[2].verdict, LineVerdict::kAccepted);
}

TEST(FingerprintKeysTest, BadLinesAreErrorsAndGoodLinesStillCount) {
  const std::string content =
      absl::StrCat(Vector("ed25519").line, "\nssh-ed25519 AAAA\n", Vector("u_ed-cert").line, "\n");
  const auto result = FingerprintKeys(content, FingerprintHash::kSha256);
  ASSERT_EQ(result.keys.size(), 2u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 2u);
  EXPECT_THAT(result.errors[0].reason, HasSubstr("truncated"));
  EXPECT_EQ(FormatFingerprintLines({result.keys[0]}),
            absl::StrCat("256 ", Vector("ed25519").sha256, " ed25519@test (ED25519)\n"));
}

// What `key add` and `key rotate` send must be UTF-8: the first bad line is named, before any
// request is made.
TEST(TextInputTest, TheFirstLineThatIsNotUtf8IsNamed) {
  EXPECT_TRUE(CheckUtf8Lines("keys.pub", "ssh-ed25519 AAAA caf\xC3\xA9\n").ok());
  absl::Status latin1 =
      CheckUtf8Lines("keys.pub", "ssh-ed25519 AAAA ok\nssh-ed25519 AAAA caf\xE9\n");
  EXPECT_EQ(latin1.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(latin1.message()),
              ::testing::HasSubstr("keys.pub line 2 is not valid UTF-8"));
  EXPECT_THAT(std::string(CheckUtf8Lines("-", "\xFF").message()),
              ::testing::HasSubstr("(stdin) line 1"));
}

TEST(FingerprintKeysTest, PrivateKeyIsRefusedAsAWhole) {
  const auto result =
      FingerprintKeys("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", FingerprintHash::kSha256);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].reason, HasSubstr("private key"));
  EXPECT_TRUE(result.keys.empty());
}

TEST(FingerprintKeysTest, CommentControlCharactersAreEscapedForTheTerminal) {
  FingerprintEntry e;
  e.bits = 256;
  e.fingerprint = "SHA256:x";
  e.comment = "evil\x1b[2J";
  EXPECT_EQ(FormatFingerprintLines({e}), "256 SHA256:x evil\\033[2J (ED25519)\n");
}

// A key named on the command line (`verify`, `key reach`): a fingerprint as given, or the one key
// of a public key file; anything else refused with what is accepted.
TEST(FingerprintArgumentTest, AFingerprintOrTheOneKeyOfAFile) {
  ::keyfleet::testing::ScopedTempDir dir("keyfleet-key-argument");
  auto file = [&](const std::string& name, const std::string& content) {
    const std::string path = (dir.path() / name).string();
    std::ofstream(path) << content;
    return path;
  };
  const std::string fingerprint = Vector("ed25519").sha256;
  const std::string one = file("one.pub", "# laptop\n" + Vector("ed25519").line + "\n");
  const std::string with_options = file("line", "restrict " + Vector("ed25519").line);
  for (const std::string& good : {fingerprint, one, with_options}) {
    absl::StatusOr<std::string> got = FingerprintArgument(good);
    ASSERT_TRUE(got.ok()) << good << ": " << got.status();
    EXPECT_EQ(*got, fingerprint) << good;
  }

  const struct {
    std::string arg;
    std::string reason;
    absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  } bad[] = {
      {"SHA256:short", "\"SHA256:short\" is not a SHA256 fingerprint (SHA256: and 43 base64"},
      {fingerprint + "A", "is not a SHA256 fingerprint"},
      {file("two.pub", Vector("ed25519").line + "\n" + Vector("ecdsa256").line + "\n"),
       "two.pub holds more than one key; give one key (a .pub file) or its SHA256: fingerprint"},
      {file("empty.pub", "# nothing\n\n"), "empty.pub holds no public key"},
      {file("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
       "id_ed25519 is not a public key file (this is a private key file"},
      {file("broken.pub", "ssh-ed25519 AAAA\n"), "broken.pub is not a public key file (line 1: "},
      {(dir.path() / "missing.pub").string(), "missing.pub: cannot open",
       absl::StatusCode::kNotFound},
  };
  for (const auto& b : bad) {
    absl::StatusOr<std::string> got = FingerprintArgument(b.arg);
    ASSERT_FALSE(got.ok()) << b.arg;
    EXPECT_EQ(got.status().code(), b.code) << b.arg;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(b.reason)) << b.arg;
  }
}

// The binary: exit codes and formats.
::keyfleet::testing::CommandResult RunCli(const std::string& args) {
  return ::keyfleet::testing::RunCommand(absl::StrCat(KEYFLEET_CLI, " ", args, " 2>&1"));
}

class CliBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_.path().string();
    good_ = dir_ + "/good.pub";
    mixed_ = dir_ + "/mixed";
    std::ofstream(good_) << Vector("ed25519").line << "\n";
    std::ofstream(mixed_) << Vector("ed25519").line << "\nrestrict,\n";
  }
  ::keyfleet::testing::ScopedTempDir temp_{"keyfleet-cli"};
  std::string dir_, good_, mixed_;
};

TEST_F(CliBinaryTest, ExitCodesAndFormats) {
  ::keyfleet::testing::CommandResult ok = RunCli("fingerprint " + good_);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.out, absl::StrCat("256 ", Vector("ed25519").sha256, " ed25519@test (ED25519)\n"));

  ::keyfleet::testing::CommandResult json = RunCli("-o json fingerprint " + good_);
  EXPECT_EQ(json.exit_code, 0);
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc[0]["fingerprint"], Vector("ed25519").sha256);
  EXPECT_EQ(doc[0]["key_type"], "ssh-ed25519");

  ::keyfleet::testing::CommandResult mixed = RunCli("fingerprint " + mixed_);
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_THAT(mixed.out, HasSubstr(mixed_ + ":2: "));
  EXPECT_THAT(mixed.out, HasSubstr(Vector("ed25519").sha256));

  EXPECT_EQ(RunCli("fingerprint " + dir_ + "/missing").exit_code, 1);
  EXPECT_EQ(RunCli("fingerprint -E sha1 " + good_).exit_code, 2);
  EXPECT_EQ(RunCli("fingerprint").exit_code, 2);
  EXPECT_EQ(RunCli("no-such-command").exit_code, 2);
  // An unknown word is named, with the commands that exist there, at every level.
  for (const auto& [args, group, known] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"nonsense", "`keyfleet`", "principal, key"},
           {"key nonsense", "`keyfleet key`", "add, list"},
           {"--controller 127.0.0.1:1 host token frob", "`keyfleet host token`", "create"}}) {
    ::keyfleet::testing::CommandResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_THAT(r.out, HasSubstr("unknown command \"" + args.substr(args.rfind(' ') + 1) + "\""))
        << args;
    EXPECT_THAT(r.out, HasSubstr(group)) << args;
    EXPECT_THAT(r.out, HasSubstr(known)) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("A subcommand is required"))) << args;
  }
  EXPECT_THAT(RunCli("").out, HasSubstr("A subcommand is required"));
  ::keyfleet::testing::CommandResult yaml = RunCli("-o yaml fingerprint " + good_);
  EXPECT_EQ(yaml.exit_code, 2);
  EXPECT_THAT(yaml.out, HasSubstr("\"yaml\" is not an output format (allowed: table, json)"));
  EXPECT_THAT(yaml.out, Not(HasSubstr("->")));
  EXPECT_EQ(RunCli("-o JSON fingerprint " + good_).exit_code, 0);
  EXPECT_EQ(RunCli("--help").exit_code, 0);
  EXPECT_EQ(RunCli("fingerprint --help").exit_code, 0);

  ::keyfleet::testing::CommandResult check_ok = RunCli("check-authorized-keys " + good_);
  EXPECT_EQ(check_ok.exit_code, 0);
  EXPECT_THAT(check_ok.out, HasSubstr("1 key lines: 1 accepted, 0 rejected"));
  ::keyfleet::testing::CommandResult check_bad = RunCli("-o json check-authorized-keys " + mixed_);
  EXPECT_EQ(check_bad.exit_code, 1);
  const auto check_doc = nlohmann::json::parse(check_bad.out);
  EXPECT_EQ(check_doc["lines"][1]["verdict"], "rejected");
  EXPECT_THAT(check_doc["lines"][1]["reason"].get<std::string>(), HasSubstr("trailing comma"));
}

}  // namespace
}  // namespace keyfleet::cli
