// Against a real sshd (label sshd): its log followed as the agent would, last use recorded for
// both keys, and ending the sessions of one key leaves the other key's session alone. A process
// that is not sshd's monitor is never signalled, whatever an event claims.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/sha256_fingerprint.h"
#include "node-agent/auth_log_follower.h"
#include "node-agent/key_use_tracker.h"
#include "node-agent/ssh_sessions.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"

namespace keyfleet::agent {
namespace {

using ::testing::UnorderedElementsAre;

template <typename Pred>
bool WaitFor(Pred pred, int seconds = 10) {
  for (int i = 0; i < seconds * 20 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

using testing::Exited;

class SshSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_a_ = fx_.NewKey("a");
    key_b_ = fx_.NewKey("b");
    ASSERT_TRUE(fx_.AddAuthorizedKeys(fx_.user(), {key_a_, key_b_}));
    AuthLogSettings settings;
    settings.path = fx_.dir() + "/sshd.log";
    settings.file_format = SshdLogFormat::kSshdFile;
    settings.poll_interval = absl::Milliseconds(50);
    follower_ = std::make_unique<AuthLogFollower>(
        settings, clock_, [this](const SshdLogRecord& r) { tracker_.Record(r); });
    follower_->Start();
    ASSERT_TRUE(WaitFor([&] { return follower_->position().has_value(); }));
  }
  void TearDown() override {
    follower_->Stop();
    for (pid_t pid : sessions_) {
      if (!Exited(pid)) testing::StopProcess(pid, 1000);
    }
  }

  testing::SshdFixture fx_;
  SystemClock clock_;
  KeyUseTracker tracker_{KeyUseLimits{}, clock_};
  std::unique_ptr<AuthLogFollower> follower_;
  std::string key_a_, key_b_;
  std::vector<pid_t> sessions_;
};

TEST_F(SshSessionsTest, EndsTheSessionsOfOneKeyAndLeavesTheOthersAlone) {
  const pid_t a = fx_.OpenSession(fx_.user(), "a", 61);
  const pid_t b = fx_.OpenSession(fx_.user(), "b", 62);
  sessions_ = {a, b};
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  ASSERT_TRUE(WaitFor([&] { return tracker_.live_session_count() == 2; })) << "sshd's log:\n"
                                                                           << fx_.Log();

  const std::string fp_a = fx_.Fingerprint("a");
  const std::string fp_b = fx_.Fingerprint("b");
  const std::string digest_a = *Sha256FingerprintDigest(fp_a);
  std::vector<LiveSession> live = tracker_.SessionsOfKeys({digest_a});
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].fingerprint, fp_a);
  EXPECT_EQ(live[0].account, fx_.user());
  EXPECT_EQ(live[0].address, "127.0.0.1");

  // The monitor found for each is sshd's "[priv]" process of this account.
  SshSessionFinder finder;
  absl::StatusOr<std::optional<SshSessionProcess>> monitor =
      finder.Find(live[0].account, live[0].address, live[0].port, std::nullopt);
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  ASSERT_TRUE(monitor->has_value());
  // Another account's name never matches that monitor.
  EXPECT_FALSE(finder.Find("root", live[0].address, live[0].port, std::nullopt)->has_value());
  // Nor does another pid than the one holding the connection.
  EXPECT_FALSE(finder.Find(live[0].account, live[0].address, live[0].port, getpid())->has_value());
  EXPECT_TRUE(
      finder.Find(live[0].account, live[0].address, live[0].port, (*monitor)->pid)->has_value());

  KillSessionsResult killed = finder.KillSessions(tracker_, {digest_a});
  EXPECT_EQ(killed.ended, 1u);
  EXPECT_EQ(killed.not_found, 0u);
  EXPECT_THAT(killed.errors, ::testing::IsEmpty());
  EXPECT_TRUE(WaitFor([&] { return Exited(a); }, 5))
      << "key A's ssh client is still running; processes:\n"
      << testing::RunCommand("ps -eo pid,ppid,uid,comm,args | grep -E 'ssh|sleep'").out
      << "sshd's log:\n"
      << fx_.Log();
  EXPECT_FALSE(Exited(b)) << "key B's session ended too";
  // The command key A's session ran (no terminal, so no hangup) ended with it.
  const std::string user_procs = "pgrep -u " + fx_.user() + " -f -x ";
  EXPECT_TRUE(
      WaitFor([&] { return testing::RunCommand(user_procs + "'sleep 61'").exit_code != 0; }, 5))
      << testing::RunCommand("ps -eo pid,ppid,uid,comm,args | grep -E 'ssh|sleep'").out;
  EXPECT_EQ(testing::RunCommand(user_procs + "'sleep 62'").exit_code, 0) << "B's command ended";
  std::string out;
  EXPECT_TRUE(fx_.Login("b", "echo still-here", &out));
  EXPECT_EQ(out, "still-here\n");
  EXPECT_FALSE(Exited(b));
  EXPECT_EQ(tracker_.SessionsOfKeys({digest_a}).size(), 0u) << "an ended session is forgotten";

  // Killing again finds nothing to end.
  EXPECT_EQ(finder.KillSessions(tracker_, {digest_a}).ended, 0u);

  // Last use: both keys, from 127.0.0.1 (and the extra login of B).
  KeyUseBatch uses = tracker_.TakeChangedUses(100);
  std::vector<std::pair<std::string, std::string>> seen;
  for (const KeyUse& u : uses.uses) {
    EXPECT_EQ(u.account, fx_.user());
    seen.emplace_back(u.fingerprint, u.address);
  }
  EXPECT_THAT(seen, UnorderedElementsAre(std::make_pair(fp_a, std::string("127.0.0.1")),
                                         std::make_pair(fp_b, std::string("127.0.0.1"))));
  EXPECT_EQ(follower_->counters().malformed, 0u);
}

// A TCP connection made by this test: the accepted socket's remote end is the client's port,
// held by a child whose comm is "sshd" (but whose command line is not sshd's monitor's).
TEST_F(SshSessionsTest, AProcessThatIsNotAnSshdMonitorIsNeverSignalled) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  sockaddr_in client_addr{};
  len = sizeof(client_addr);
  ASSERT_EQ(getsockname(client, reinterpret_cast<sockaddr*>(&client_addr), &len), 0);
  const int served = accept(listener, nullptr, nullptr);
  ASSERT_GE(served, 0);
  const pid_t holder = fork();
  if (holder == 0) {
    prctl(PR_SET_NAME, "sshd");
    pause();
    _exit(0);
  }
  ASSERT_GT(holder, 0);
  close(served);  // only the child holds the served end now

  SshdLogRecord forged;
  forged.event.kind = SshdLogEventKind::kAccepted;
  forged.event.user = fx_.user();
  forged.event.address = "127.0.0.1";
  forged.event.port = ntohs(client_addr.sin_port);
  forged.event.fingerprint = fx_.Fingerprint("a");
  forged.event.digest = *Sha256FingerprintDigest(forged.event.fingerprint);
  tracker_.Record(forged);
  forged.pid = holder;  // a log line naming the holder's pid outright
  forged.event.port = ntohs(client_addr.sin_port);
  SshSessionFinder finder;
  EXPECT_FALSE(finder.Find(fx_.user(), "127.0.0.1", forged.event.port, holder)->has_value());
  KillSessionsResult result = finder.KillSessions(tracker_, {forged.event.digest});
  EXPECT_EQ(result.ended, 0u);
  EXPECT_EQ(result.not_found, 1u);
  EXPECT_FALSE(finder.End(fx_.user(), "127.0.0.1", forged.event.port, holder).value().ended);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(Exited(holder)) << "a process that is not sshd's monitor was signalled";
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  close(client);
  close(listener);
}

}  // namespace
}  // namespace keyfleet::agent
