// The SMTP sink against a real aiosmtpd on 127.0.0.1: the message that arrives, and the outcome
// for a refusing, failing, missing, silent or STARTTLS-speaking server.
#include "controller/notify/smtp_sink.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/tls/tests/openssl_cli.h"
#include "controller/notify/tests/smtp_receiver.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReceivedMail;
using testing::SmtpReceiver;
using testing::SmtpReceiverOptions;

constexpr char kPassword[] = "smtp-password-do-not-leak";

Notification Rotated() {
  Notification n;
  n.id = 42;
  n.event = "key.rotated";
  n.at = absl::FromUnixSeconds(1699999000);
  n.payload_json = "{}";
  n.email_to = "alice@example.com";
  n.subject = "Your key laptop-2023 was rotated";
  // A line of a single dot would end the DATA phase if it were not dot-stuffed.
  n.text = "Your key laptop-2023 was rotated.\n.\n..two dots\nThe end.\n";
  return n;
}

SmtpSettings SettingsFor(const std::string& url, StartTls starttls = StartTls::kTry,
                         absl::Duration timeout = absl::Seconds(10)) {
  SmtpSettings settings;
  absl::StatusOr<ServiceUrl> parsed = ParseSmtpUrl(url);
  EXPECT_TRUE(parsed.ok()) << url << ": " << parsed.status();
  if (parsed.ok()) settings.url = *parsed;
  settings.from = "keyfleet@example.com";
  settings.starttls = starttls;
  settings.timeout = timeout;
  for (absl::string_view event : kNotificationEvents) settings.events.emplace(event);
  return settings;
}

std::vector<std::string> HeaderLines(const std::string& content) {
  const std::string header = content.substr(0, content.find("\r\n\r\n"));
  return absl::StrSplit(header, "\r\n");
}

SmtpReceiverOptions Mode(const std::string& mode) {
  SmtpReceiverOptions options;
  options.mode = mode;
  return options;
}

std::string Body(const std::string& content) {
  const size_t end = content.find("\r\n\r\n");
  return end == std::string::npos ? "" : content.substr(end + 4);
}

class SmtpSinkTest : public ::testing::Test {
 protected:
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  keyfleet::testing::ScopedTempDir dir_{"keyfleet-smtp"};
};

TEST_F(SmtpSinkTest, MailsTheNotificationWithItsHeaders) {
  SmtpReceiver receiver;
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSink sink(SettingsFor(receiver.Url()), clock_);
  EXPECT_EQ(sink.name(), "smtp");

  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail << "\n" << receiver.Log();
  EXPECT_EQ(result.detail,
            absl::StrCat("accepted by ", receiver.Url(), " for alice@example.com (SMTP 250)"));
  const std::vector<ReceivedMail> mails = receiver.Mails();
  ASSERT_EQ(mails.size(), 1u) << receiver.Log();
  EXPECT_EQ(mails[0].mail_from, "keyfleet@example.com");
  EXPECT_EQ(mails[0].rcpt_tos, (std::vector<std::string>{"alice@example.com"}));
  EXPECT_FALSE(mails[0].tls);
  EXPECT_EQ(HeaderLines(mails[0].content), (std::vector<std::string>{
                                               "From: keyfleet@example.com",
                                               "To: alice@example.com",
                                               "Subject: Your key laptop-2023 was rotated",
                                               "Date: Tue, 14 Nov 2023 22:13:20 +0000",
                                               "Message-ID: <keyfleet.outbox.42@example.com>",
                                               "MIME-Version: 1.0",
                                               "Content-Type: text/plain; charset=utf-8",
                                               "Content-Transfer-Encoding: 7bit",
                                               "Auto-Submitted: auto-generated",
                                               "X-Keyfleet-Event: key.rotated",
                                               "X-Keyfleet-Delivery: 42",
                                           }));
  EXPECT_EQ(Body(mails[0].content),
            "Your key laptop-2023 was rotated.\r\n.\r\n..two dots\r\nThe end.\r\n");
}

TEST_F(SmtpSinkTest, InjectionAttemptsDoNotReachTheServer) {
  SmtpReceiver receiver;
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSink sink(SettingsFor(receiver.Url()), clock_);

  Notification subject = Rotated();
  subject.subject = "Rotated\r\nBcc: eve@example.com\r\n\r\nfake body";
  EXPECT_EQ(sink.Deliver(subject).outcome, DeliveryOutcome::kDelivered);

  Notification recipient = Rotated();
  recipient.email_to = "alice@example.com>\r\nRCPT TO:<eve@example.com";
  const DeliveryResult refused = sink.Deliver(recipient);
  EXPECT_EQ(refused.outcome, DeliveryOutcome::kPermanentFailure);
  EXPECT_THAT(refused.detail, HasSubstr("notification 42 cannot be mailed: email_to: "));
  EXPECT_THAT(refused.detail, Not(HasSubstr("\n")));

  const std::vector<ReceivedMail> mails = receiver.Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].rcpt_tos, (std::vector<std::string>{"alice@example.com"}));
  const std::vector<std::string> header = HeaderLines(mails[0].content);
  EXPECT_EQ(header.size(), 11u);
  EXPECT_EQ(header[2], "Subject: Rotated  Bcc: eve@example.com    fake body");
}

TEST_F(SmtpSinkTest, WantsOnlyItsEventsWithAnAddress) {
  SmtpSettings settings = SettingsFor("smtp://127.0.0.1:1");
  settings.events = {"key.expiring"};
  SmtpSink sink(settings, clock_);
  Notification n = Rotated();
  n.event = "key.expiring";
  EXPECT_TRUE(sink.Wants(n));
  n.email_to = "";
  EXPECT_FALSE(sink.Wants(n));
  n = Rotated();
  EXPECT_FALSE(sink.Wants(n));  // key.rotated is not among its events
}

TEST_F(SmtpSinkTest, ARefusedRecipientIsPermanent) {
  SmtpReceiver receiver(Mode("refuse-rcpt"));
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSink sink(SettingsFor(receiver.Url()), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kPermanentFailure) << result.detail;
  EXPECT_THAT(result.detail,
              HasSubstr(absl::StrCat("SMTP 550 from ", receiver.Url(), " for alice@example.com")));
  EXPECT_THAT(result.detail, HasSubstr("(550 5.1.1 mailbox unavailable)"));
  EXPECT_TRUE(receiver.Mails().empty());
}

TEST_F(SmtpSinkTest, ATemporaryRefusalIsRetried) {
  SmtpReceiver receiver(Mode("tempfail-rcpt"));
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSink sink(SettingsFor(receiver.Url()), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("SMTP 451 from "));
  EXPECT_THAT(result.detail, HasSubstr("(451 4.3.0 try again later)"));
}

TEST_F(SmtpSinkTest, AServerThatIsGoneIsRetried) {
  SmtpReceiver receiver;
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  const std::string url = receiver.Url();
  receiver.Stop();
  SmtpSink sink(SettingsFor(url), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.detail,
            absl::StrCat("cannot connect to 127.0.0.1:", receiver.port(), ": connection refused"));
}

TEST_F(SmtpSinkTest, ASilentServerIsCutOffAtTheTimeout) {
  // Accepts connections (the kernel does, from the backlog) but never greets.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  SmtpSink sink(SettingsFor(absl::StrCat("smtp://127.0.0.1:", ntohs(addr.sin_port)), StartTls::kTry,
                            absl::Seconds(1)),
                clock_);
  const absl::Time start = absl::Now();
  const DeliveryResult result = sink.Deliver(Rotated());
  const absl::Duration took = absl::Now() - start;
  close(listener);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail, HasSubstr("timed out after 1s talking to smtp://127.0.0.1:"));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST_F(SmtpSinkTest, RequireRefusesAServerWithoutStartTls) {
  SmtpReceiver receiver;
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSettings settings = SettingsFor(receiver.Url(), StartTls::kRequire);
  settings.username = "keyfleet";
  settings.password = kPassword;
  SmtpSink sink(settings, clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.detail,
            absl::StrCat(receiver.Url(), " does not offer STARTTLS, and starttls is require"));
  EXPECT_THAT(result.detail, Not(HasSubstr(kPassword)));
  EXPECT_TRUE(receiver.Mails().empty());
}

class SmtpStartTlsTest : public SmtpSinkTest {
 protected:
  void SetUp() override {
    tls::testing::CliCertificateSpec spec;
    spec.common_name = "keyfleet test mail server";
    spec.extensions = {"basicConstraints=critical,CA:FALSE", "subjectAltName=IP:127.0.0.1"};
    server_ = tls::testing::MakeCliCertificate(dir_.path(), "mail", spec);
  }

  SmtpReceiverOptions TlsOptions() const {
    SmtpReceiverOptions options;
    options.tls_cert = server_.cert_path;
    options.tls_key = server_.key_path;
    return options;
  }

  tls::testing::CliCertificate server_;
};

TEST_F(SmtpStartTlsTest, RequireDeliversOverTlsWithTheTestCa) {
  SmtpReceiver receiver(TlsOptions());
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSettings settings = SettingsFor(receiver.Url(), StartTls::kRequire);
  settings.ca_file = server_.cert_path.string();
  SmtpSink sink(settings, clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail << "\n" << receiver.Log();
  const std::vector<ReceivedMail> mails = receiver.Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_TRUE(mails[0].tls);
  EXPECT_THAT(mails[0].content, HasSubstr("Message-ID: <keyfleet.outbox.42@example.com>\r\n"));
}

TEST_F(SmtpStartTlsTest, TryUpgradesWhenOffered) {
  SmtpReceiver receiver(TlsOptions());
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  SmtpSettings settings = SettingsFor(receiver.Url(), StartTls::kTry);
  settings.ca_file = server_.cert_path.string();
  SmtpSink sink(settings, clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;
  ASSERT_EQ(receiver.Mails().size(), 1u);
  EXPECT_TRUE(receiver.Mails()[0].tls);
}

TEST_F(SmtpStartTlsTest, AnUntrustedCertificateIsRetriedWithTheReason) {
  SmtpReceiver receiver(TlsOptions());
  absl::Status started = receiver.Start();
  ASSERT_TRUE(started.ok()) << started;
  // The system's trust store does not know the test certificate.
  SmtpSink sink(SettingsFor(receiver.Url(), StartTls::kRequire), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail, HasSubstr(absl::StrCat("TLS with ", receiver.Url(), " failed: ")));
  EXPECT_TRUE(receiver.Mails().empty());
}

}  // namespace
}  // namespace keyfleet::controller::notify
