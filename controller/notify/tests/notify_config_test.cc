// The `notifications:` config section: a full good config, defaults, limits at and past their
// edge, and one bad config per mistake with the message it must give.
#include "controller/notify/notify_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/clock.h"
#include "common/tls/tests/openssl_cli.h"
#include "controller/notify/make_sinks.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller::notify {
namespace {

using ::testing::HasSubstr;

class NotifyConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile("secret", "s3cret\n", 0600);
    WriteFile("secret-crlf", "s3cret\r\n", 0400);
    WriteFile("password", "hunter2", 0600);
    WriteFile("world-readable", "s3cret\n", 0644);
    WriteFile("group-readable", "s3cret\n", 0640);
    WriteFile("empty", "", 0600);
    WriteFile("newline-only", "\n", 0600);
    WriteFile("not-pem", "hello\n", 0644);
    tls::testing::MakeCliCa(dir_.path(), "ca");
  }

  void WriteFile(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = (dir_.path() / name).string();
    tls::testing::WriteTextFile(path, content);
    ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
  }

  // `yaml` with $DIR replaced by the test directory, then its `notifications` parsed.
  absl::StatusOr<NotifyConfig> Parse(const std::string& yaml) {
    const YAML::Node root = YAML::Load(absl::StrReplaceAll(yaml, {{"$DIR", dir_.path().string()}}));
    return ParseNotifyConfig(root["notifications"]);
  }

  std::string Dir() const { return dir_.path().string(); }

  keyfleet::testing::ScopedTempDir dir_{"keyfleet-notify-config"};
};

TEST_F(NotifyConfigTest, ReadsEverySetting) {
  absl::StatusOr<NotifyConfig> config = Parse(R"(
notifications:
  webhooks:
    - name: siem
      url: https://hooks.example/kf?token=abc
      secret_file: $DIR/secret
      events: [key.rotated, key.revoked]
      ca_file: $DIR/ca.crt
      timeout: 60s
    - name: chat-ops-2
      url: http://127.0.0.1:9000
      secret_file: $DIR/secret-crlf
  smtp:
    url: smtps://mail.example:2465
    from: keyfleet@example.com
    username: keyfleet
    password_file: $DIR/password
    ca_file: $DIR/ca.crt
    timeout: 2m
    events: [key.expiring]
  retry:
    max_attempts: 100
    initial_backoff: 1s
    max_backoff: 24h
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->webhooks.size(), 2u);
  const WebhookSettings& siem = config->webhooks[0];
  EXPECT_EQ(siem.name, "siem");
  EXPECT_EQ(siem.url.Origin(), "https://hooks.example:443");
  EXPECT_EQ(siem.url.target, "/kf?token=abc");
  EXPECT_EQ(siem.secret, "s3cret");
  EXPECT_EQ(siem.events, (std::set<std::string>{"key.rotated", "key.revoked"}));
  EXPECT_EQ(siem.ca_file, Dir() + "/ca.crt");
  EXPECT_EQ(siem.timeout, absl::Seconds(60));
  const WebhookSettings& chat = config->webhooks[1];
  EXPECT_EQ(chat.name, "chat-ops-2");
  EXPECT_EQ(chat.secret, "s3cret");
  EXPECT_EQ(chat.events.size(), kNotificationEvents.size());
  // A bulk add's one event goes where every event goes (it was once left out of the list).
  EXPECT_EQ(chat.events.count("keys.added"), 1u);
  EXPECT_EQ(chat.timeout, kDefaultWebhookTimeout);
  EXPECT_EQ(chat.ca_file, "");
  ASSERT_TRUE(config->smtp.has_value());
  EXPECT_EQ(config->smtp->url.Origin(), "smtps://mail.example:2465");
  EXPECT_EQ(config->smtp->from, "keyfleet@example.com");
  EXPECT_EQ(config->smtp->username, "keyfleet");
  EXPECT_EQ(config->smtp->password, "hunter2");
  EXPECT_EQ(config->smtp->ca_file, Dir() + "/ca.crt");
  EXPECT_EQ(config->smtp->timeout, absl::Minutes(2));
  EXPECT_EQ(config->smtp->events, (std::set<std::string>{"key.expiring"}));
  EXPECT_EQ(config->retry.max_attempts, 100);
  EXPECT_EQ(config->retry.initial_backoff, absl::Seconds(1));
  EXPECT_EQ(config->retry.max_backoff, absl::Hours(24));

  SystemClock clock;
  std::vector<std::unique_ptr<NotificationSink>> sinks = MakeSinks(*config, clock);
  ASSERT_EQ(sinks.size(), 3u);
  EXPECT_EQ(sinks[0]->name(), "webhook:siem");
  EXPECT_EQ(sinks[1]->name(), "webhook:chat-ops-2");
  EXPECT_EQ(sinks[2]->name(), "smtp");
}

TEST_F(NotifyConfigTest, MissingOrEmptySectionMeansNoSinksAndDefaultRetries) {
  for (const char* yaml : {"", "other: 1", "notifications:", "notifications: {}"}) {
    absl::StatusOr<NotifyConfig> config = Parse(yaml);
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.status();
    EXPECT_TRUE(config->webhooks.empty()) << yaml;
    EXPECT_FALSE(config->smtp.has_value()) << yaml;
    EXPECT_EQ(config->retry.max_attempts, 8) << yaml;
    EXPECT_EQ(config->retry.initial_backoff, absl::Seconds(30)) << yaml;
    EXPECT_EQ(config->retry.max_backoff, absl::Hours(1)) << yaml;
    SystemClock clock;
    EXPECT_TRUE(MakeSinks(*config, clock).empty());
  }
}

TEST_F(NotifyConfigTest, SmtpDefaults) {
  absl::StatusOr<NotifyConfig> config = Parse(R"(
notifications:
  smtp:
    url: smtp://127.0.0.1:2525
    from: keyfleet@example.com
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->smtp.has_value());
  EXPECT_EQ(config->smtp->starttls, StartTls::kTry);
  EXPECT_EQ(config->smtp->timeout, kDefaultSmtpTimeout);
  EXPECT_EQ(config->smtp->username, "");
  EXPECT_EQ(config->smtp->password, "");
  EXPECT_EQ(config->smtp->events.size(), kNotificationEvents.size());
}

TEST_F(NotifyConfigTest, StartTlsModesAndAuthenticationOverStartTls) {
  const std::pair<const char*, StartTls> modes[] = {
      {"try", StartTls::kTry}, {"require", StartTls::kRequire}, {"never", StartTls::kNever}};
  for (const auto& [text, mode] : modes) {
    absl::StatusOr<NotifyConfig> config = Parse(absl::StrCat(
        "notifications:\n  smtp: {url: 'smtp://m', from: k@example.com, starttls: ", text, "}"));
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->smtp->starttls, mode) << text;
  }
  absl::StatusOr<NotifyConfig> config = Parse(
      "notifications:\n  smtp: {url: 'smtp://m', from: k@example.com, starttls: require, "
      "username: k, password_file: $DIR/password}");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->smtp->password, "hunter2");
}

TEST_F(NotifyConfigTest, LimitsAreInclusive) {
  std::string webhooks = "notifications:\n  webhooks:\n";
  for (size_t i = 0; i < kMaxWebhooks; ++i) {
    absl::StrAppend(&webhooks, "    - {name: w", i,
                    ", url: 'http://h', secret_file: $DIR/secret}\n");
  }
  absl::StatusOr<NotifyConfig> config = Parse(webhooks);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->webhooks.size(), kMaxWebhooks);

  const std::string longest_name(kMaxWebhookNameBytes, 'a');
  const std::string good[] = {
      absl::StrCat("notifications:\n  webhooks:\n    - {name: ", longest_name,
                   ", url: 'http://h', secret_file: $DIR/secret}"),
      "notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: $DIR/secret, "
      "timeout: 1s}",
      "notifications:\n  smtp: {url: 'smtp://m', from: k@example.com, timeout: 120s}",
      "notifications:\n  retry: {max_attempts: 1, initial_backoff: 24h, max_backoff: 24h}",
      "notifications:\n  retry: {initial_backoff: 1h}",  // equal to the default max_backoff
  };
  for (const std::string& yaml : good) {
    absl::StatusOr<NotifyConfig> parsed = Parse(yaml);
    EXPECT_TRUE(parsed.ok()) << yaml << ": " << parsed.status();
  }
}

TEST_F(NotifyConfigTest, RefusesMistakesWithTheReason) {
  const std::string hook =
      "notifications:\n  webhooks:\n    - name: siem\n      url: https://h/x\n"
      "      secret_file: $DIR/secret\n";
  const std::string smtp =
      "notifications:\n  smtp:\n    url: smtp://127.0.0.1:2525\n"
      "    from: keyfleet@example.com\n";
  std::string too_many = "notifications:\n  webhooks:\n";
  for (size_t i = 0; i <= kMaxWebhooks; ++i) {
    absl::StrAppend(&too_many, "    - {name: w", i,
                    ", url: 'http://h', secret_file: $DIR/secret}\n");
  }
  const std::pair<std::string, std::string> bad[] = {
      // Unknown keys, named with their path.
      {"notifications:\n  webhook: []",
       "unknown setting \"notifications.webhook\"; known: retry, "
       "smtp, webhooks"},
      {hook + "      urll: https://h/y", "unknown setting \"notifications.webhooks[0].urll\""},
      {smtp + "    tls: yes", "unknown setting \"notifications.smtp.tls\""},
      {"notifications:\n  retry: {attempts: 3}",
       "unknown setting \"notifications.retry.attempts\""},
      {hook + "      url: https://h/y", "notifications.webhooks[0].url is given twice"},
      // Shapes.
      {"notifications: [a, b]", "notifications: must be a mapping"},
      {"notifications:\n  webhooks: {name: siem}", "notifications.webhooks: must be a list"},
      {"notifications:\n  webhooks: [siem]", "notifications.webhooks[0]: must be a mapping"},
      {"notifications:\n  smtp:", "notifications.smtp: must be a mapping with url and from"},
      {"notifications:\n  retry: 3", "notifications.retry: must be a mapping"},
      {too_many, "notifications.webhooks: has 17 entries; at most 16"},
      // Webhook names.
      {"notifications:\n  webhooks:\n    - {url: 'http://h', secret_file: $DIR/secret}",
       "notifications.webhooks[0].name is required"},
      {"notifications:\n  webhooks:\n    - {name: SIEM, url: 'http://h', secret_file: $DIR/secret}",
       "notifications.webhooks[0].name: \"SIEM\" must be 1 to 32 characters of a-z, 0-9 and '-'"},
      {"notifications:\n  webhooks:\n    - {name: a_b, url: 'http://h', secret_file: $DIR/secret}",
       "must be 1 to 32 characters"},
      {absl::StrCat("notifications:\n  webhooks:\n    - {name: ", std::string(33, 'a'),
                    ", url: 'http://h', secret_file: $DIR/secret}"),
       "must be 1 to 32 characters"},
      {"notifications:\n  webhooks:\n    - {name: '', url: 'http://h', secret_file: $DIR/secret}",
       "notifications.webhooks[0].name: must not be empty"},
      {hook + "    - {name: siem, url: 'http://h', secret_file: $DIR/secret}",
       "notifications.webhooks[1].name: \"siem\" is already the name of webhooks[0]; names must "
       "be unique"},
      // Webhook URLs.
      {"notifications:\n  webhooks:\n    - {name: a, secret_file: $DIR/secret}",
       "notifications.webhooks[0].url is required"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'ftp://h/x', secret_file: $DIR/secret}",
       "notifications.webhooks[0].url: the URL must start with http:// or https://"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'https://u:p@h/', secret_file: "
       "$DIR/secret}",
       "notifications.webhooks[0].url: the URL must not carry a user name or password"},
      {"notifications:\n  webhooks:\n    - {name: a, url: [x], secret_file: $DIR/secret}",
       "notifications.webhooks[0].url: must be a single value"},
      // Secret files.
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h'}",
       "notifications.webhooks[0].secret_file is required"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: "
       "$DIR/world-readable}",
       "notifications.webhooks[0].secret_file: "},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: "
       "$DIR/world-readable}",
       "is readable by group or others (mode 0644); chmod 600"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: "
       "$DIR/group-readable}",
       "is readable by group or others (mode 0640)"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: $DIR/missing}",
       "notifications.webhooks[0].secret_file: "},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: $DIR/empty}",
       "/empty is empty; put the secret in it"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: "
       "$DIR/newline-only}",
       "/newline-only is empty; put the secret in it"},
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: $DIR}",
       "notifications.webhooks[0].secret_file: "},
      // Events.
      {hook + "      events: [key.rotated, key.deleted]",
       "notifications.webhooks[0].events: unknown event \"key.deleted\" (allowed: key.added, "
       "keys.added, "
       "key.rotated, key.revoked, key.expiring, key.overdue, host.drift, host.not_seen, "
       "rollout.not_converged)"},
      {hook + "      events: []", "notifications.webhooks[0].events: must be a non-empty list"},
      {hook + "      events: key.rotated", "must be a non-empty list"},
      {hook + "      events: [key.rotated, key.rotated]", "lists \"key.rotated\" twice"},
      // Timeouts.
      {hook + "      timeout: 10",
       "notifications.webhooks[0].timeout: duration \"10\" is not valid"},
      {hook + "      timeout: 1.5s", "duration \"1.5s\" is not valid"},
      {hook + "      timeout: 61s",
       "notifications.webhooks[0].timeout: must be between 1s and 1m (default 10s), not 61s"},
      {hook + "      timeout: 0s", "must be between 1s and 1m"},
      // CA files.
      {"notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: $DIR/secret, "
       "ca_file: $DIR/ca.crt}",
       "notifications.webhooks[0].ca_file: is only for https:// URLs"},
      {hook + "      ca_file: $DIR/not-pem", "notifications.webhooks[0].ca_file: "},
      {hook + "      ca_file: $DIR/missing.pem", "notifications.webhooks[0].ca_file: "},
      // SMTP.
      {"notifications:\n  smtp: {from: k@example.com}", "notifications.smtp.url is required"},
      {"notifications:\n  smtp: {url: 'smtp://m'}", "notifications.smtp.from is required"},
      {"notifications:\n  smtp: {url: 'http://m', from: k@example.com}",
       "notifications.smtp.url: the URL must start with smtp:// or smtps://"},
      {"notifications:\n  smtp: {url: 'smtp://m/helo.example', from: k@example.com}",
       "notifications.smtp.url: the URL must end after the host and port"},
      {"notifications:\n  smtp: {url: 'smtp://m', from: keyfleet}",
       "notifications.smtp.from: \"keyfleet\" is not a plain e-mail address local@domain: it has "
       "no '@'"},
      {"notifications:\n  smtp: {url: 'smtp://m', from: 'Keyfleet <k@example.com>'}",
       "notifications.smtp.from: "},
      {smtp + "    starttls: maybe",
       "notifications.smtp.starttls: must be try, require or never, not \"maybe\""},
      {"notifications:\n  smtp: {url: 'smtps://m', from: k@example.com, starttls: require}",
       "notifications.smtp.starttls: is only for smtp:// URLs (smtps:// is TLS from the start)"},
      {smtp + "    username: k",
       "notifications.smtp.username and notifications.smtp.password_file "
       "go together"},
      {smtp + "    password_file: $DIR/password", "go together"},
      {smtp + "    username: k\n    password_file: $DIR/password",
       "notifications.smtp.username: a password is sent only over TLS: use an smtps:// URL or "
       "starttls: require"},
      {smtp + "    starttls: never\n    username: k\n    password_file: $DIR/password",
       "a password is sent only over TLS"},
      {smtp + "    starttls: require\n    username: k\n    password_file: $DIR/world-readable",
       "notifications.smtp.password_file: "},
      {smtp +
           "    starttls: require\n    username: \"k\\r\\nAUTH\"\n    password_file: $DIR/password",
       "notifications.smtp.username: must not hold control characters"},
      {smtp + "    starttls: never\n    ca_file: $DIR/ca.crt",
       "notifications.smtp.ca_file: has no use with starttls: never"},
      {smtp + "    timeout: 121s",
       "notifications.smtp.timeout: must be between 1s and 2m (default "
       "30s), not 121s"},
      {smtp + "    events: [key.added, nope]", "notifications.smtp.events: unknown event \"nope\""},
      // Retry.
      {"notifications:\n  retry: {max_attempts: 0}",
       "notifications.retry.max_attempts: must be a whole number from 1 to 100, not 0"},
      {"notifications:\n  retry: {max_attempts: 101}", "must be a whole number from 1 to 100"},
      {"notifications:\n  retry: {max_attempts: many}",
       "must be a whole number from 1 to 100, not \"many\""},
      {"notifications:\n  retry: {max_attempts: 2.5}", "must be a whole number from 1 to 100"},
      {"notifications:\n  retry: {max_attempts: [3]}", "must be a whole number from 1 to 100"},
      {"notifications:\n  retry: {initial_backoff: 0s}",
       "notifications.retry.initial_backoff: must be between 1s and 1d (default 30s), not 0s"},
      {"notifications:\n  retry: {max_backoff: 2d}",
       "notifications.retry.max_backoff: must be between 1s and 1d (default 1h), not 2d"},
      {"notifications:\n  retry: {initial_backoff: 30s, max_backoff: 10s}",
       "notifications.retry.max_backoff: 10s is shorter than initial_backoff (30s)"},
      {"notifications:\n  retry: {initial_backoff: 2h}",
       "notifications.retry.max_backoff: 1h is shorter than initial_backoff (2h)"},
  };
  for (const auto& [yaml, reason] : bad) {
    absl::StatusOr<NotifyConfig> config = Parse(yaml);
    ASSERT_FALSE(config.ok()) << yaml << "\nwas accepted";
    EXPECT_THAT(config.status().message(),
                HasSubstr(absl::StrReplaceAll(reason, {{"$DIR", Dir()}})))
        << yaml;
    // Secrets never reach an error.
    EXPECT_THAT(config.status().message(), ::testing::Not(HasSubstr("s3cret"))) << yaml;
    EXPECT_THAT(config.status().message(), ::testing::Not(HasSubstr("hunter2"))) << yaml;
  }
}

TEST_F(NotifyConfigTest, FileErrorsKeepTheirCode) {
  const std::pair<std::string, absl::StatusCode> cases[] = {
      {"$DIR/world-readable", absl::StatusCode::kFailedPrecondition},
      {"$DIR/missing", absl::StatusCode::kNotFound},
      {"$DIR/empty", absl::StatusCode::kInvalidArgument},
  };
  for (const auto& [file, code] : cases) {
    absl::StatusOr<NotifyConfig> config = Parse(absl::StrCat(
        "notifications:\n  webhooks:\n    - {name: a, url: 'http://h', secret_file: ", file, "}"));
    ASSERT_FALSE(config.ok()) << file;
    EXPECT_EQ(config.status().code(), code) << config.status();
  }
}

}  // namespace
}  // namespace keyfleet::controller::notify
