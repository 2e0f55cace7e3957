#include "common/authorized_keys_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::keyfleet::testing::Vector;
using ::testing::HasSubstr;

// "TYPE BASE64" of the ed25519 vector, without its comment.
std::string Ed25519Key() {
  const std::string& line = Vector("ed25519").line;
  return line.substr(0, line.rfind(' '));
}

TEST(AuthorizedKeysLineTest, GoodLinesParseAndRoundTrip) {
  const std::string key = Ed25519Key();
  struct Row {
    std::string line;
    std::string options;
    std::string comment;
  };
  const std::vector<Row> rows = {
      {key, "", ""},
      {key + " alice@laptop", "", "alice@laptop"},
      {"  \t" + key + " c", "", "c"},
      {"restrict " + key + " c", "restrict", "c"},
      {"restrict,command=\"echo a b\"\t" + key, "restrict,command=\"echo a b\"", ""},
      {"from=\"10.0.0.0/8\",expiry-time=\"203001010000Z\" " + key + " deploy key #3",
       "from=\"10.0.0.0/8\",expiry-time=\"203001010000Z\"", "deploy key #3"},
      {"cert-authority,principals=\"ops\" " + Vector("ca_ed").line,
       "cert-authority,principals=\"ops\"", "ca"},
      {"no-pty " + Vector("u_ed-cert").line, "no-pty", "ed25519@test"},
      {"NO-PTY " + Vector("rsa2048").line, "no-pty", "rsa2048@test"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.line);
    auto parsed = ParseAuthorizedKeysLine(row.line);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(RenderAuthorizedKeysOptions(parsed->options), row.options);
    EXPECT_EQ(parsed->key.comment, row.comment);
    const std::string rendered = RenderAuthorizedKeysLine(*parsed);
    EXPECT_EQ(*ParseAuthorizedKeysLine(rendered), *parsed);
    EXPECT_TRUE(ValidateAuthorizedKeysLine(*parsed).ok());
  }
}

TEST(AuthorizedKeysLineTest, OptionsThatLookLikeAKeyTypeAreNotConfused) {
  // osquery's substring search gets this wrong: the real key is the second one.
  const std::string line = absl::StrCat("command=\"ssh-rsa x\" ", Vector("ed25519").line);
  auto parsed = ParseAuthorizedKeysLine(line);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->key.type, KeyType::kEd25519);
  EXPECT_EQ(*parsed->options.Value("command"), "ssh-rsa x");
}

TEST(AuthorizedKeysLineTest, LineLengthAtAndPastTheCap) {
  const std::string key = Ed25519Key() + " ";
  const std::string at_cap = key + std::string(kMaxAuthorizedKeysLineBytes - key.size(), 'c');
  ASSERT_EQ(at_cap.size(), kMaxAuthorizedKeysLineBytes);
  EXPECT_TRUE(ParseAuthorizedKeysLine(at_cap).ok());
  auto past = ParseAuthorizedKeysLine(at_cap + "c");
  ASSERT_FALSE(past.ok());
  EXPECT_THAT(std::string(past.status().message()), HasSubstr("8193 bytes; at most 8192"));
}

TEST(AuthorizedKeysLineTest, BadLinesAreRefusedWithTheirReason) {
  const std::string key = Ed25519Key();
  struct Row {
    std::string name;
    std::string line;
    std::string reason;
  };
  const std::vector<Row> rows = {
      {"blank", "   ", "blank or a comment"},
      {"comment", "  # ssh-ed25519 AAAA", "blank or a comment"},
      {"carriage return", key + "\r", "carriage return"},
      {"line feed", key + "\n" + key, "line feed"},
      {"NUL", key + std::string(" a\0b", 4), "NUL"},
      {"options without key", "restrict", "no key after the options"},
      {"options then blanks only", "restrict   ", "no key after the options"},
      {"unknown option", "no-ptyy " + key, "unknown option \"no-ptyy\""},
      {"trailing comma", "restrict, " + key, "trailing comma"},
      {"unterminated quote", "command=\"ls " + key, "unterminated quote"},
      {"bad expiry-time", "expiry-time=\"2030\" " + key,
       "expiry-time \"2030\" has the wrong length"},
      {"unknown key type", "ssh-xmss@openssh.com AAAA",
       "unknown key type \"ssh-xmss@openssh.com\""},
      {"bad key after options", "restrict ssh-ed25519 AAAA", "truncated"},
      {"key type without data", "restrict ssh-ed25519", "no key data"},
      {"key and type mismatch", "ssh-rsa " + key.substr(12), "but the key data is ssh-ed25519"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto parsed = ParseAuthorizedKeysLine(row.line);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(row.reason));
  }
}

TEST(AuthorizedKeysLineTest, ValidateRefusesAssembledLinesThatWouldNotSurvive) {
  auto parsed = ParseAuthorizedKeysLine(Vector("ed25519").line);
  ASSERT_TRUE(parsed.ok());
  AuthorizedKeysLine line = *parsed;
  line.key.comment = "two\nlines";
  EXPECT_FALSE(ValidateAuthorizedKeysLine(line).ok());
  line.key.comment = std::string(kMaxAuthorizedKeysLineBytes, 'x');
  EXPECT_FALSE(ValidateAuthorizedKeysLine(line).ok());
  line.key.comment = "ok";
  line.options.items.push_back({"command", std::string("trailing \\")});
  EXPECT_FALSE(ValidateAuthorizedKeysLine(line).ok());
}

}  // namespace
}  // namespace keyfleet
