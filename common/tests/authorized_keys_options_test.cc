#include "common/authorized_keys_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

struct GoodOptions {
  std::string text;
  std::string rendered;  // canonical form
};

TEST(AuthorizedKeysOptionsTest, GoodOptionsParseAndRoundTrip) {
  const std::vector<GoodOptions> rows = {
      {"restrict", "restrict"},
      {"RESTRICT,No-Pty", "restrict,no-pty"},
      {"no-X11-forwarding", "no-x11-forwarding"},
      {"cert-authority,principals=\"alice,bob\"", "cert-authority,principals=\"alice,bob\""},
      {"command=\"echo \\\"hi\\\" there\"", "command=\"echo \\\"hi\\\" there\""},
      {"command=\"a\\b\"", "command=\"a\\b\""},
      {"command=\"\"", "command=\"\""},
      {"from=\"10.0.0.0/8,!10.1.0.0/16,*.example.com,::1\"",
       "from=\"10.0.0.0/8,!10.1.0.0/16,*.example.com,::1\""},
      {"from=\"2001:db8::/32\"", "from=\"2001:db8::/32\""},
      {"expiry-time=\"20300101\"", "expiry-time=\"20300101\""},
      {"expiry-time=\"203001011230Z\",expiry-time=\"20290101123045utc\"",
       "expiry-time=\"203001011230Z\",expiry-time=\"20290101123045utc\""},
      {"environment=\"LANG=C\",environment=\"TZ=UTC\"",
       "environment=\"LANG=C\",environment=\"TZ=UTC\""},
      {"permitopen=\"localhost:8080\",permitopen=\"[::1]:22\",permitopen=\"*:*\"",
       "permitopen=\"localhost:8080\",permitopen=\"[::1]:22\",permitopen=\"*:*\""},
      {"permitlisten=\"8080\",permitlisten=\"0.0.0.0:9000\"",
       "permitlisten=\"8080\",permitlisten=\"0.0.0.0:9000\""},
      {"tunnel=\"0\"", "tunnel=\"0\""},
      {"tunnel=\"ANY\"", "tunnel=\"ANY\""},
      {"verify-required,no-touch-required,touch-required,no-verify-required",
       "verify-required,no-touch-required,touch-required,no-verify-required"},
      {"pty,user-rc,no-user-rc,port-forwarding,agent-forwarding,x11-forwarding",
       "pty,user-rc,no-user-rc,port-forwarding,agent-forwarding,x11-forwarding"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.text);
    auto parsed = ParseAuthorizedKeysOptions(row.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(RenderAuthorizedKeysOptions(*parsed), row.rendered);
    EXPECT_EQ(*ParseAuthorizedKeysOptions(RenderAuthorizedKeysOptions(*parsed)), *parsed);
    EXPECT_TRUE(ValidateAuthorizedKeysOptions(*parsed).ok());
  }
}

TEST(AuthorizedKeysOptionsTest, ValuesAreUnescaped) {
  auto parsed = ParseAuthorizedKeysOptions("command=\"say \\\"x\\\"\"");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed->Value("command"), "say \"x\"");
}

TEST(AuthorizedKeysOptionsTest, PrefixStopsAtBlankOutsideQuotes) {
  size_t consumed = 0;
  auto parsed =
      ParseAuthorizedKeysOptionsPrefix("command=\"a b\",restrict ssh-ed25519 AAAA", &consumed);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(consumed, 22u);
  EXPECT_EQ(parsed->items.size(), 2u);
}

TEST(AuthorizedKeysOptionsTest, EarliestExpiryWins) {
  auto parsed = ParseAuthorizedKeysOptions(
      "expiry-time=\"20300101Z\",expiry-time=\"202901010000Z\",restrict");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->EarliestExpiry(absl::UTCTimeZone()),
            absl::FromCivil(absl::CivilDay(2029, 1, 1), absl::UTCTimeZone()));
}

struct BadOptions {
  std::string name;
  std::string text;
  std::string reason;
};

TEST(AuthorizedKeysOptionsTest, BadOptionsAreRefusedWithTheirReason) {
  const std::vector<BadOptions> rows = {
      {"empty", "", "options are empty"},
      {"unknown option", "no-ptyy", "unknown option \"no-ptyy\" (allowed: restrict"},
      {"negated restrict", "no-restrict", "unknown option \"no-restrict\""},
      {"negated cert-authority", "no-cert-authority", "unknown option"},
      {"trailing comma", "restrict,", "trailing comma after option restrict"},
      {"trailing comma before key", "restrict, ssh-ed25519", "trailing comma"},
      {"double comma", "restrict,,no-pty", "empty option at offset 9"},
      {"leading comma", ",restrict", "empty option at offset 0"},
      {"flag with value", "no-pty=\"yes\"", "option no-pty takes no value"},
      {"valued without value", "command", "option command needs a value"},
      {"unquoted value", "command=ls", "must be in double quotes"},
      {"unterminated quote", "command=\"ls", "unterminated quote"},
      {"escaped quote leaves it open", "command=\"ls\\\"", "unterminated quote"},
      {"junk after value", "command=\"ls\"x", "unexpected character 'x' after option command"},
      {"stray quote", "\"restrict\"", "unexpected quote"},
      {"second command", "command=\"a\",command=\"b\"", "option command is given more than once"},
      {"second from", "from=\"a\",from=\"b\"", "option from is given more than once"},
      {"second principals", "principals=\"a\",principals=\"b\"", "more than once"},
      {"expiry-time wrong length", "expiry-time=\"2030010\"", "wrong length"},
      {"expiry-time letters", "expiry-time=\"2030Jan1\"", "non-digit"},
      {"expiry-time 31 April", "expiry-time=\"20300431\"", "not a valid date"},
      {"expiry-time hour 24", "expiry-time=\"203001012400\"", "not a valid date"},
      {"expiry-time epoch", "expiry-time=\"19700101Z\"", "not after 1970"},
      {"expiry-time before 1970", "expiry-time=\"19691231\"", "not a valid date"},
      {"from empty", "from=\"\"", "pattern list is empty"},
      {"from empty entry", "from=\"10.0.0.1,,x\"", "empty entry"},
      {"from bits past mask", "from=\"10.1.2.3/8\"", "address bits set past the /8 mask"},
      {"from mask too long", "from=\"10.0.0.0/33\"", "mask length \"33\" is not 0..32"},
      {"from bad address", "from=\"10.0.0.256/32\"", "is not an IP address"},
      {"from bad characters", "from=\"host name\"", "may hold only"},
      {"environment no equals", "environment=\"LANG\"", "expected NAME=VALUE"},
      {"environment bad name", "environment=\"MY-VAR=1\"", "expected NAME=VALUE"},
      {"environment empty name", "environment=\"=1\"", "expected NAME=VALUE"},
      {"environment twice", "environment=\"A=1\",environment=\"A=2\"", "set more than once"},
      {"permitopen no port", "permitopen=\"host\"", "expected HOST:PORT"},
      {"permitopen port 0", "permitopen=\"host:0\"", "port must be 1..65535"},
      {"permitopen port 65536", "permitopen=\"host:65536\"", "port must be 1..65535"},
      {"permitopen service name", "permitopen=\"host:ssh\"", "port must be 1..65535"},
      {"permitopen empty host", "permitopen=\":22\"", "the host must be"},
      {"permitopen bad ipv6", "permitopen=\"[::1:22\"", "expected [ADDRESS]:PORT"},
      {"permitlisten bad bare port", "permitlisten=\"http\"", "port must be 1..65535"},
      {"tunnel negative", "tunnel=\"-1\"", "expected \"any\""},
      {"tunnel too large", "tunnel=\"2147483646\"", "expected \"any\""},
      {"line feed in value", "command=\"a\nb\"", "CR, LF or NUL"},
      {"NUL in value", std::string("command=\"a\0b\"", 13), "CR, LF or NUL"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto parsed = ParseAuthorizedKeysOptions(row.text);
    ASSERT_FALSE(parsed.ok()) << RenderAuthorizedKeysOptions(*parsed);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(row.reason));
  }
}

TEST(AuthorizedKeysOptionsTest, EnvironmentLimitAtAndPastTheCap) {
  std::string at_cap;
  for (size_t i = 0; i < kMaxEnvironmentOptions; ++i) {
    absl::StrAppend(&at_cap, i ? "," : "", "environment=\"V", i, "=x\"");
  }
  EXPECT_TRUE(ParseAuthorizedKeysOptions(at_cap).ok());
  auto past = ParseAuthorizedKeysOptions(at_cap + ",environment=\"LAST=x\"");
  ASSERT_FALSE(past.ok());
  EXPECT_THAT(std::string(past.status().message()), HasSubstr("more than 1024 environment"));
}

TEST(AuthorizedKeysOptionsTest, PermitopenLimitAtAndPastTheCap) {
  std::string at_cap;
  for (size_t i = 0; i < kMaxPermitOptions; ++i) {
    absl::StrAppend(&at_cap, i ? "," : "", "permitopen=\"h:", i % 60000 + 1, "\"");
  }
  EXPECT_TRUE(ParseAuthorizedKeysOptions(at_cap).ok());
  EXPECT_FALSE(ParseAuthorizedKeysOptions(at_cap + ",permitopen=\"h:1\"").ok());
}

TEST(AuthorizedKeysOptionsTest, ValidateRefusesUnrepresentableOptions) {
  AuthorizedKeysOptions trailing_backslash{{{"command", std::string("echo \\")}}};
  EXPECT_FALSE(ValidateAuthorizedKeysOptions(trailing_backslash).ok());
  AuthorizedKeysOptions upper{{{"No-Pty", std::nullopt}}};
  EXPECT_FALSE(ValidateAuthorizedKeysOptions(upper).ok());
  AuthorizedKeysOptions flag_with_value{{{"restrict", std::string("x")}}};
  EXPECT_FALSE(ValidateAuthorizedKeysOptions(flag_with_value).ok());
  AuthorizedKeysOptions ok{{{"restrict", std::nullopt}, {"command", std::string("a \"b\"")}}};
  EXPECT_TRUE(ValidateAuthorizedKeysOptions(ok).ok());
}

}  // namespace
}  // namespace keyfleet
