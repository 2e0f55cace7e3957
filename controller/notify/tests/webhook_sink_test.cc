// The webhook sink against real receivers on 127.0.0.1: what arrives (body, headers,
// signature), and the outcome for each way a receiver can answer or fail, plain and over TLS.
#include "controller/notify/webhook_sink.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/tls/tests/openssl_cli.h"
#include "controller/notify/tests/webhook_receiver.h"
#include "tests/support/child_process.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::WebhookReceiver;

constexpr char kSecret[] = "webhook-secret-do-not-leak";
const absl::Time kSendTime = absl::FromUnixSeconds(1700000000);

Notification Rotated() {
  Notification n;
  n.id = 42;
  n.event = "key.rotated";
  n.at = absl::FromUnixSeconds(1699999000) + absl::Milliseconds(500);
  // A number beyond double precision: it must reach the receiver exactly as written.
  n.payload_json = R"({"principal":"alice","key":"laptop-2023","serial":12345678901234567890})";
  n.subject = "unused by webhooks";
  return n;
}

WebhookSettings SettingsFor(const std::string& url, absl::Duration timeout = absl::Seconds(5)) {
  WebhookSettings settings;
  settings.name = "siem";
  absl::StatusOr<ServiceUrl> parsed = ParseWebhookUrl(url);
  EXPECT_TRUE(parsed.ok()) << url << ": " << parsed.status();
  if (parsed.ok()) settings.url = *parsed;
  settings.secret = kSecret;
  for (absl::string_view event : kNotificationEvents) settings.events.emplace(event);
  settings.timeout = timeout;
  return settings;
}

// Every detail is shown to admins: the secret must never be in one.
void ExpectNoSecret(const DeliveryResult& result) {
  EXPECT_THAT(result.detail, Not(HasSubstr(kSecret)));
}

class WebhookSinkTest : public ::testing::Test {
 protected:
  FakeClock clock_{kSendTime};
  keyfleet::testing::ScopedTempDir dir_{"keyfleet-webhook"};
};

TEST_F(WebhookSinkTest, PostsTheSignedNotification) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(receiver.Url("/hooks/kf?token=abc")), clock_);
  EXPECT_EQ(sink.name(), "webhook:siem");

  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;
  EXPECT_EQ(result.detail,
            absl::StrCat("HTTP 200 from http://127.0.0.1:", receiver.port(), "/hooks/kf: ok"));
  ExpectNoSecret(result);

  const std::vector<testing::ReceivedRequest> requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const testing::ReceivedRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hooks/kf");
  const std::string body =
      R"({"id":42,"event":"key.rotated","at":"2023-11-14T21:56:40.5Z","data":)"
      R"({"principal":"alice","key":"laptop-2023","serial":12345678901234567890}})";
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("User-Agent"), "keyfleet/" KEYFLEET_VERSION);
  EXPECT_EQ(request.Header("X-Keyfleet-Event"), "key.rotated");
  EXPECT_EQ(request.Header("X-Keyfleet-Delivery"), "42");
  EXPECT_EQ(request.Header("X-Keyfleet-Timestamp"), "1700000000");
  const std::string signature = request.Header("X-Keyfleet-Signature");
  EXPECT_THAT(signature, ::testing::StartsWith("sha256="));
  EXPECT_TRUE(VerifyWebhookSignature(kSecret, "1700000000", request.body, signature));
  EXPECT_FALSE(VerifyWebhookSignature("another-secret", "1700000000", request.body, signature));
  EXPECT_FALSE(VerifyWebhookSignature(
      kSecret, "1700000000", absl::StrReplaceAll(request.body, {{"alice", "mallory"}}), signature));
  EXPECT_FALSE(VerifyWebhookSignature(kSecret, "1700000001", request.body, signature));
  EXPECT_EQ(request.Header("X-Keyfleet-Secret"), "");
  for (const auto& [name, value] : request.headers) {
    EXPECT_THAT(value, Not(HasSubstr(kSecret))) << name;
  }
}

TEST_F(WebhookSinkTest, RetriesKeepTheDeliveryIdAndSignAgain) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(receiver.Url("/")), clock_);
  receiver.AnswerWith(503, "busy");
  EXPECT_EQ(sink.Deliver(Rotated()).outcome, DeliveryOutcome::kRetry);
  clock_.Advance(absl::Seconds(30));
  receiver.AnswerWith(200, "ok");
  EXPECT_EQ(sink.Deliver(Rotated()).outcome, DeliveryOutcome::kDelivered);
  const std::vector<testing::ReceivedRequest> requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("X-Keyfleet-Delivery"), requests[1].Header("X-Keyfleet-Delivery"));
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(requests[1].Header("X-Keyfleet-Timestamp"), "1700000030");
  EXPECT_TRUE(VerifyWebhookSignature(kSecret, "1700000030", requests[1].body,
                                     requests[1].Header("X-Keyfleet-Signature")));
}

TEST_F(WebhookSinkTest, EachStatusHasItsOutcome) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(receiver.Url("/kf")), clock_);
  const std::pair<int, DeliveryOutcome> table[] = {
      {200, DeliveryOutcome::kDelivered},
      {201, DeliveryOutcome::kDelivered},
      {202, DeliveryOutcome::kDelivered},
      {204, DeliveryOutcome::kDelivered},
      {301, DeliveryOutcome::kPermanentFailure},
      {302, DeliveryOutcome::kPermanentFailure},
      {400, DeliveryOutcome::kPermanentFailure},
      {401, DeliveryOutcome::kPermanentFailure},
      {403, DeliveryOutcome::kPermanentFailure},
      {404, DeliveryOutcome::kPermanentFailure},
      {408, DeliveryOutcome::kRetry},
      {410, DeliveryOutcome::kPermanentFailure},
      {413, DeliveryOutcome::kPermanentFailure},
      {429, DeliveryOutcome::kRetry},
      {500, DeliveryOutcome::kRetry},
      {502, DeliveryOutcome::kRetry},
      {503, DeliveryOutcome::kRetry},
      {504, DeliveryOutcome::kRetry},
  };
  for (const auto& [status, outcome] : table) {
    receiver.AnswerWith(status, "answer text");
    const DeliveryResult result = sink.Deliver(Rotated());
    EXPECT_EQ(result.outcome, outcome) << status << ": " << result.detail;
    EXPECT_THAT(result.detail, HasSubstr(absl::StrCat("HTTP ", status, " from http://127.0.0.1:",
                                                      receiver.port(), "/kf")));
    ExpectNoSecret(result);
  }
}

TEST_F(WebhookSinkTest, AHugeAnswerIsCutAndQuotedBriefly) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(receiver.Url("/")), clock_);
  receiver.AnswerWith(500, std::string(8 * 1024 * 1024, 'x'));
  const absl::Time start = absl::Now();
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry) << result.detail.substr(0, 300);
  EXPECT_LT(result.detail.size(), 100 + kMaxWebhookDetailExcerptBytes);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  receiver.AnswerWith(404, "no such hook\r\n\x01\x02");
  const DeliveryResult not_found = sink.Deliver(Rotated());
  EXPECT_EQ(not_found.outcome, DeliveryOutcome::kPermanentFailure);
  EXPECT_THAT(not_found.detail, ::testing::EndsWith(": no such hook  ??"));
}

TEST_F(WebhookSinkTest, NothingListeningIsRetriedAsConnectionRefused) {
  const int port = keyfleet::testing::FreeLoopbackPort();
  ASSERT_GT(port, 0);
  WebhookSink sink(SettingsFor(absl::StrCat("http://127.0.0.1:", port, "/kf")), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.detail,
            absl::StrCat("cannot connect to 127.0.0.1:", port, ": connection refused"));
}

TEST_F(WebhookSinkTest, ASlowReceiverIsCutOffAtTheTimeout) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  receiver.DelayAnswers(absl::Seconds(30));
  WebhookSink sink(SettingsFor(receiver.Url("/slow"), absl::Seconds(1)), clock_);
  const absl::Time start = absl::Now();
  const DeliveryResult result = sink.Deliver(Rotated());
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(
      result.detail,
      absl::StrCat("timed out after 1s waiting for http://127.0.0.1:", receiver.port(), "/slow"));
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));
}

// A receiver that accepts the connection and then sends one byte a second for ever: each
// read succeeds, so only the overall timeout stops it.
TEST_F(WebhookSinkTest, ATricklingReceiverIsCutOffAtTheTimeout) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    const int conn = accept(listener, nullptr, nullptr);
    if (conn < 0) return;
    const char answer[] = "HTTP/1.1 200 OK\r\nX-Slow: ";
    for (size_t i = 0; i < sizeof(answer) - 1 && !stop; ++i) {
      if (send(conn, answer + i, 1, MSG_NOSIGNAL) != 1) break;
      absl::SleepFor(absl::Milliseconds(300));
    }
    while (!stop) {
      if (send(conn, "a", 1, MSG_NOSIGNAL) != 1) break;
      absl::SleepFor(absl::Milliseconds(300));
    }
    close(conn);
  });
  WebhookSink sink(
      SettingsFor(absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port), "/"), absl::Seconds(2)),
      clock_);
  const absl::Time start = absl::Now();
  const DeliveryResult result = sink.Deliver(Rotated());
  const absl::Duration took = absl::Now() - start;
  stop = true;
  shutdown(listener, SHUT_RDWR);
  trickler.join();
  close(listener);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail, HasSubstr("timed out after 2s"));
  EXPECT_LT(took, absl::Seconds(4));
}

TEST_F(WebhookSinkTest, APayloadThatIsNotAnObjectIsAPermanentFailure) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(receiver.Url("/")), clock_);
  for (const char* payload : {"", "[1,2]", "{\"a\":", "\"text\"", "{} {}"}) {
    Notification n = Rotated();
    n.payload_json = payload;
    const DeliveryResult result = sink.Deliver(n);
    EXPECT_EQ(result.outcome, DeliveryOutcome::kPermanentFailure) << payload;
    EXPECT_THAT(result.detail, HasSubstr("not a JSON object")) << payload;
  }
  Notification n = Rotated();
  n.event = "key.rotated\r\nX-Injected: 1";
  EXPECT_EQ(sink.Deliver(n).outcome, DeliveryOutcome::kPermanentFailure);
  EXPECT_TRUE(receiver.Requests().empty());
}

TEST_F(WebhookSinkTest, WantsOnlyItsEvents) {
  WebhookSettings settings = SettingsFor("http://127.0.0.1:1/");
  settings.events = {"key.rotated", "key.revoked"};
  WebhookSink sink(settings, clock_);
  Notification n = Rotated();
  EXPECT_TRUE(sink.Wants(n));
  n.event = "key.revoked";
  EXPECT_TRUE(sink.Wants(n));
  n.event = "key.added";
  EXPECT_FALSE(sink.Wants(n));
  n.event = "";
  EXPECT_FALSE(sink.Wants(n));
}

class WebhookTlsTest : public WebhookSinkTest {
 protected:
  void SetUp() override {
    tls::testing::CliCertificateSpec spec;
    spec.common_name = "keyfleet test receiver";
    spec.extensions = {"basicConstraints=critical,CA:FALSE", "subjectAltName=IP:127.0.0.1"};
    server_ = tls::testing::MakeCliCertificate(dir_.path(), "receiver", spec);
    spec.extensions = {"basicConstraints=critical,CA:FALSE", "subjectAltName=DNS:other.example"};
    other_name_ = tls::testing::MakeCliCertificate(dir_.path(), "other-name", spec);
  }

  tls::testing::CliCertificate server_, other_name_;
};

TEST_F(WebhookTlsTest, DeliversToAReceiverTrustedThroughCaFile) {
  WebhookReceiver receiver(server_.cert_path, server_.key_path);
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSettings settings = SettingsFor(receiver.Url("/tls"));
  settings.ca_file = server_.cert_path.string();
  WebhookSink sink(settings, clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;
  EXPECT_THAT(result.detail,
              HasSubstr(absl::StrCat("HTTP 200 from https://127.0.0.1:", receiver.port(), "/tls")));
  ASSERT_EQ(receiver.Requests().size(), 1u);
  EXPECT_TRUE(VerifyWebhookSignature(kSecret, "1700000000", receiver.Requests()[0].body,
                                     receiver.Requests()[0].Header("X-Keyfleet-Signature")));
}

TEST_F(WebhookTlsTest, AnUntrustedCertificateIsRetriedWithTheReason) {
  WebhookReceiver receiver(server_.cert_path, server_.key_path);
  ASSERT_TRUE(receiver.Start().ok());
  // The system's trust store does not know the test certificate.
  WebhookSink system_store(SettingsFor(receiver.Url("/tls")), clock_);
  DeliveryResult result = system_store.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail,
              HasSubstr(absl::StrCat("TLS: the certificate of 127.0.0.1:", receiver.port(),
                                     " is not trusted (self-signed certificate; checked against "
                                     "the system's trust store)")));
  // Nor does a ca_file with another certificate.
  WebhookSettings settings = SettingsFor(receiver.Url("/tls"));
  settings.ca_file = other_name_.cert_path.string();
  WebhookSink other_ca(settings, clock_);
  result = other_ca.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail, HasSubstr("is not trusted"));
  EXPECT_THAT(result.detail, HasSubstr("checked against ca_file"));
  EXPECT_TRUE(receiver.Requests().empty());
}

TEST_F(WebhookTlsTest, ATrustedCertificateForAnotherNameIsRetried) {
  WebhookReceiver receiver(other_name_.cert_path, other_name_.key_path);
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSettings settings = SettingsFor(receiver.Url("/tls"));
  settings.ca_file = other_name_.cert_path.string();
  WebhookSink sink(settings, clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.detail, absl::StrCat("TLS: the certificate of 127.0.0.1:", receiver.port(),
                                        " is not valid for the name \"127.0.0.1\""));
  EXPECT_TRUE(receiver.Requests().empty());
}

TEST_F(WebhookTlsTest, HttpsToAPlainReceiverIsATlsFailure) {
  WebhookReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  WebhookSink sink(SettingsFor(absl::StrCat("https://127.0.0.1:", receiver.port(), "/")), clock_);
  const DeliveryResult result = sink.Deliver(Rotated());
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_THAT(result.detail, HasSubstr("TLS handshake with 127.0.0.1:"));
}

}  // namespace
}  // namespace keyfleet::controller::notify
