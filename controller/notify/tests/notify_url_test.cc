// Receiver URLs: a table of good ones with their parts, and of bad ones with the reason.
#include "controller/notify/notify_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace keyfleet::controller::notify {
namespace {

using ::testing::HasSubstr;

TEST(NotifyUrl, WebhookUrlsAreSplitIntoTheirParts) {
  const struct {
    const char* text;
    const char* scheme;
    const char* host;
    int port;
    const char* target;
    const char* display;
  } good[] = {
      {"https://hooks.example/kf", "https", "hooks.example", 443, "/kf",
       "https://hooks.example:443/kf"},
      {"http://127.0.0.1:8080", "http", "127.0.0.1", 8080, "/", "http://127.0.0.1:8080/"},
      {"http://127.0.0.1:8080?x=1", "http", "127.0.0.1", 8080, "/?x=1", "http://127.0.0.1:8080/"},
      {"https://[::1]:8443/a/b?token=abc", "https", "::1", 8443, "/a/b?token=abc",
       "https://[::1]:8443/a/b"},
      {"https://internal_host.corp:1/x%20y", "https", "internal_host.corp", 1, "/x%20y",
       "https://internal_host.corp:1/x%20y"},
      {"http://h:65535/", "http", "h", 65535, "/", "http://h:65535/"},
  };
  for (const auto& c : good) {
    absl::StatusOr<ServiceUrl> url = ParseWebhookUrl(c.text);
    ASSERT_TRUE(url.ok()) << c.text << ": " << url.status();
    EXPECT_EQ(url->scheme, c.scheme) << c.text;
    EXPECT_EQ(url->host, c.host) << c.text;
    EXPECT_EQ(url->port, c.port) << c.text;
    EXPECT_EQ(url->target, c.target) << c.text;
    EXPECT_EQ(url->ForDisplay(), c.display) << c.text;
  }
}

TEST(NotifyUrl, BadWebhookUrlsSayWhy) {
  const std::pair<std::string, const char*> bad[] = {
      {"", "empty"},
      {"ftp://h/x", "must start with http:// or https://"},
      {"HTTPS://h/x", "must start with http:// or https://"},
      {"hooks.example/kf", "must start with http:// or https://"},
      {"https://user:pw@h/x", "must not carry a user name or password"},
      {"https://h/x#frag", "fragment"},
      {"https:///x", "has no host"},
      {"https://h:/x", "port is empty"},
      {"https://h:0/x", "not a number from 1 to 65535"},
      {"https://h:65536/x", "not a number from 1 to 65535"},
      {"https://h:+80/x", "not a number from 1 to 65535"},
      {"https://h:80a/x", "not a number from 1 to 65535"},
      {"https://h/a b", "visible ASCII"},
      {"https://h/\r\nX-Evil: 1", "visible ASCII"},
      {"https://h\xc3\xa9/x", "visible ASCII"},
      {"https://h!/x", "may hold only letters, digits"},
      {"https://[::1/x", "no closing ']'"},
      {"https://[fe80::1%25eth0]/x", "no zone"},
      {"https://[1.2.3.4]/x", "not an IPv6 address"},
      {"https://[::1]x/", "text after its [IPv6] address"},
      {"https://" + std::string(kMaxUrlHostBytes + 1, 'a') + "/", "host is longer than 253"},
      {"https://h/" + std::string(kMaxUrlBytes, 'a'), "longer than 2048 bytes"},
  };
  for (const auto& [text, reason] : bad) {
    absl::StatusOr<ServiceUrl> url = ParseWebhookUrl(text);
    ASSERT_FALSE(url.ok()) << text << " was accepted";
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(url.status().message(), HasSubstr(reason)) << text;
  }
}

TEST(NotifyUrl, LengthLimitIsInclusive) {
  const std::string prefix = "https://h/";
  EXPECT_TRUE(ParseWebhookUrl(prefix + std::string(kMaxUrlBytes - prefix.size(), 'a')).ok());
  EXPECT_FALSE(ParseWebhookUrl(prefix + std::string(kMaxUrlBytes - prefix.size() + 1, 'a')).ok());
}

TEST(NotifyUrl, SmtpUrls) {
  absl::StatusOr<ServiceUrl> plain = ParseSmtpUrl("smtp://127.0.0.1:2525");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->Origin(), "smtp://127.0.0.1:2525");
  EXPECT_FALSE(plain->is_tls());
  EXPECT_EQ(plain->target, "");
  absl::StatusOr<ServiceUrl> tls = ParseSmtpUrl("smtps://mail.example/");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->Origin(), "smtps://mail.example:465");
  EXPECT_TRUE(tls->is_tls());
  EXPECT_EQ(ParseSmtpUrl("smtp://mail.example")->port, 25);

  const std::pair<const char*, const char*> bad[] = {
      {"http://mail.example", "must start with smtp:// or smtps://"},
      {"smtp://mail.example/keyfleet.example", "must end after the host and port"},
      {"smtp://mail.example?x", "must end after the host and port"},
      {"smtp://me@mail.example", "user name"},
  };
  for (const auto& [text, reason] : bad) {
    absl::StatusOr<ServiceUrl> url = ParseSmtpUrl(text);
    ASSERT_FALSE(url.ok()) << text << " was accepted";
    EXPECT_THAT(url.status().message(), HasSubstr(reason)) << text;
  }
}

}  // namespace
}  // namespace keyfleet::controller::notify
