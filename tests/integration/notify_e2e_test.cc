// Notifications end to end: a real controller (its binary) and PostgreSQL, a real webhook
// receiver (cpp-httplib) and a real SMTP server (aiosmtpd). Events written with their mutations
// are delivered signed, retried while the receiver fails, dead-lettered after the last attempt,
// replayed with `notify retry`, and delivered after a controller killed with them pending comes
// back — once. Labels: postgres, tls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "controller/notify/tests/smtp_receiver.h"
#include "controller/notify/tests/webhook_receiver.h"
#include "controller/notify/webhook_signature.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using controller::notify::VerifyWebhookSignature;
using controller::notify::testing::ReceivedRequest;
using controller::notify::testing::SmtpReceiver;
using controller::notify::testing::WebhookReceiver;
using ::testing::HasSubstr;

constexpr char kSecret[] = "webhook-shared-secret-0123456789";

// Polls `done` every 100 ms for at most `limit`.
bool WaitFor(const std::function<bool()>& done, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

class NotifyEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(hook_.Start().ok());
    absl::Status mail = mail_.Start();
    ASSERT_TRUE(mail.ok()) << mail;
    database_ = pg_.Url(pg_.CreateDatabase());
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    const std::string secret = Path("webhook.secret");
    std::ofstream(secret) << kSecret << "\n";
    chmod(secret.c_str(), 0600);
    std::ofstream(Path("controller.yaml")) << "notify_scan_interval: 1s\n"
                                           << "notifications:\n"
                                           << "  webhooks:\n"
                                           << "    - name: siem\n"
                                           << "      url: " << hook_.Url("/keyfleet") << "\n"
                                           << "      secret_file: " << secret << "\n"
                                           << "      timeout: 2s\n"
                                           << "  smtp:\n"
                                           << "    url: " << mail_.Url() << "\n"
                                           << "    from: keyfleet@example.com\n"
                                           << "    starttls: never\n"
                                           << "    timeout: 2s\n"
                                           << "  retry:\n"
                                           << "    max_attempts: 3\n"
                                           << "    initial_backoff: 1s\n"
                                           << "    max_backoff: 1s\n";
    StartController();
  }
  void TearDown() override {
    if (controller_ > 0) StopProcess(controller_);
  }

  std::string Path(const std::string& name) { return dir_.path().string() + "/" + name; }

  void StartController() {
    controller_ =
        SpawnProcess({KEYFLEET_CONTROLLER, "--config", Path("controller.yaml"), "--db", database_,
                      "--listen", address_, "--ca-dir", Path("ca"), "--tls-name", "127.0.0.1",
                      "--bootstrap-token-file", Path("bootstrap.token"), "--log-level", "warn"},
                     Path("controller.log"));
    ASSERT_TRUE(WaitFor([&] { return Run("whoami").exit_code == 0; }, absl::Seconds(15)))
        << "the controller did not come up:\n"
        << RunCommand("cat " + Path("controller.log")).out;
  }

  CommandResult Run(const std::string& args) {
    return RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ + " --ca " +
                      Path("ca") + "/ca.crt --token-file " + Path("bootstrap.token") + " " + args +
                      " 2>&1");
  }
  nlohmann::json Json(const std::string& args) {
    CommandResult r = Run("-o json " + args);
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // The webhook requests for `event`, in order; each must carry a valid signature.
  std::vector<nlohmann::json> Hooks(const std::string& event) {
    std::vector<nlohmann::json> out;
    for (const ReceivedRequest& r : hook_.Requests()) {
      EXPECT_TRUE(VerifyWebhookSignature(kSecret, r.Header("X-Keyfleet-Timestamp"), r.body,
                                         r.Header("X-Keyfleet-Signature")))
          << r.body;
      nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
      if (body.is_object() && body["event"] == event) out.push_back(body);
    }
    return out;
  }

  std::string AddKey(const std::string& principal, uint64_t n) {
    const std::string file = Path("key" + std::to_string(n) + ".pub");
    std::ofstream(file) << SyntheticEd25519Line(n, "k") << "\n";
    nlohmann::json added = Json("key add " + principal + " " + file);
    return added["keys"][0]["fingerprint"].get<std::string>();
  }

  TempPostgres pg_;
  ScopedTempDir dir_{"keyfleet-notify"};
  WebhookReceiver hook_;
  SmtpReceiver mail_;
  std::string database_, address_;
  pid_t controller_ = -1;
};

TEST_F(NotifyEndToEndTest, EventsReachWebhooksAndMailRetriedDeadLetteredAndOnceAfterACrash) {
  ASSERT_EQ(Run("principal add alice --email alice@example.com").exit_code, 0);
  const std::string fp = AddKey("alice", 1);

  // Delivered, signed, to the webhook and by mail to the key's owner.
  ASSERT_TRUE(WaitFor([&] { return Hooks("key.added").size() == 1; }, absl::Seconds(20)));
  const nlohmann::json added = Hooks("key.added")[0];
  EXPECT_EQ(added["data"]["key"]["fingerprint"], fp);
  EXPECT_EQ(added["data"]["actor"], "token:bootstrap") << added.dump();
  ASSERT_TRUE(WaitFor([&] { return !mail_.Mails().empty(); }, absl::Seconds(20)));
  const auto mails = mail_.Mails();
  EXPECT_EQ(mails[0].rcpt_tos, std::vector<std::string>{"alice@example.com"});
  EXPECT_THAT(mails[0].content, HasSubstr("Subject: keyfleet: a key was added for alice"));
  EXPECT_THAT(mails[0].content, HasSubstr(fp));

  // The receiver fails: three attempts a second apart, then a dead letter; `notify retry`
  // sends it again once the receiver is fixed.
  hook_.AnswerWith(500, "boom");
  const std::string next = Path("key2.pub");
  std::ofstream(next) << SyntheticEd25519Line(2, "k2") << "\n";
  ASSERT_EQ(Run("key rotate " + fp + " " + next).exit_code, 0);
  int64_t dead_id = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json s = Json("notify status --state dead");
        for (const auto& d : s["deliveries"]) {
          if (d["event"] == "key.rotated" && d["sink"] == "webhook:siem") {
            dead_id = d["id"].is_string() ? std::stoll(d["id"].get<std::string>())
                                          : d["id"].get<int64_t>();
            EXPECT_THAT(d["last_error"].get<std::string>(), HasSubstr("500"));
            EXPECT_EQ(d["attempts"], 3);
          }
        }
        return dead_id != 0;
      },
      absl::Seconds(30)));
  EXPECT_EQ(Hooks("key.rotated").size(), 3u);
  CommandResult status = Run("notify status");
  EXPECT_EQ(status.exit_code, 1) << status.out;
  EXPECT_THAT(status.out, HasSubstr("dead-lettered"));
  hook_.AnswerWith(200, "ok");
  ASSERT_EQ(Run("notify retry " + std::to_string(dead_id)).exit_code, 0);
  EXPECT_EQ(Run("notify retry " + std::to_string(dead_id)).exit_code, 1) << "no longer dead";
  ASSERT_TRUE(WaitFor([&] { return Hooks("key.rotated").size() == 4; }, absl::Seconds(20)));

  // A scan event: a service key inside its warning window is announced once.
  ASSERT_EQ(Run("principal add ci --kind service").exit_code, 0);
  ASSERT_EQ(Run("policy set --kind service --max-age 1d --warn 1d --overlap 0d").exit_code, 0);
  const std::string ci_fp = AddKey("ci", 3);
  ASSERT_TRUE(WaitFor([&] { return Hooks("key.expiring").size() == 1; }, absl::Seconds(20)));
  EXPECT_EQ(Hooks("key.expiring")[0]["data"]["key"]["fingerprint"], ci_fp);

  // Killed with a delivery pending: after the restart it is delivered, once.
  hook_.AnswerWith(503, "later");
  const std::string new_fp =
      Json("key list --principal alice --state active")["keys"][0]["fingerprint"];
  ASSERT_EQ(Run("key revoke " + new_fp + " --reason test").exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return !Hooks("key.revoked").empty(); }, absl::Seconds(20)));
  kill(controller_, SIGKILL);
  StopProcess(controller_);
  const size_t before = Hooks("key.revoked").size();
  hook_.AnswerWith(200, "ok");
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Hooks("key.revoked").size() > before; }, absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(Hooks("key.revoked").size(), before + 1) << "delivered once after the restart";
  nlohmann::json final_status = Json("notify status");
  EXPECT_EQ(final_status["dead"], "0") << "nothing dead: " << final_status.dump();
  EXPECT_EQ(Hooks("key.expiring").size(), 1u) << "a scan event is written once";
}

}  // namespace
}  // namespace keyfleet::testing
