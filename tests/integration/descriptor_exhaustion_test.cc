// The controller survives running out of descriptors. Its binary is started under a hard limit
// of 256 open files (it raises its soft limit to the hard one, so the hard one is what counts),
// flooded with idle TCP connections until accepting fails with EMFILE ("Too many open files" in
// its log), and then the flood goes away: a real client, the CLI, must get through again within
// seconds. gRPC 1.51's own listener never accepted again after that error (see
// controller/service/connection_acceptor.h), which left the port dead until a restart.
// Over TLS and in --insecure-dev. Labels: postgres, tls.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Low enough to reach quickly, high enough for the controller's own descriptors (PostgreSQL
// pool, CA files, gRPC's pollers).
constexpr int kOpenFileLimit = 256;
// The flood stops once the controller says accepting failed; this bounds it if it never does.
constexpr int kMaxIdleConnections = 400;
// How long the flood holds every descriptor while a client waits.
constexpr auto kFloodHeld = std::chrono::milliseconds(1500);
// How long that client waits in all (its own deadline is 30 s).
constexpr int kWaitingClientSeconds = 6;
// How soon after the flood is gone clients must get through.
constexpr auto kRecoveryBound = std::chrono::seconds(3);
// How long the test keeps trying a new client before it calls the port dead.
constexpr auto kGiveUpAfter = std::chrono::seconds(8);

enum class Transport { kTls, kInsecureDev };

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A TCP connection to 127.0.0.1:port that sends nothing; -1 on failure.
int ConnectIdle(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

class DescriptorExhaustionTest : public ::testing::TestWithParam<Transport> {
 protected:
  static void SetUpTestSuite() { pg_ = new TempPostgres(); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    dir_ = std::make_unique<ScopedTempDir>("keyfleet-fd-flood");
    port_ = FreeLoopbackPort();
    ASSERT_GT(port_, 0);
    address_ = "127.0.0.1:" + std::to_string(port_);
    log_ = dir_->path().string() + "/controller.log";
    std::vector<std::string> argv = {
        KEYFLEET_PRLIMIT,
        "--nofile=" + std::to_string(kOpenFileLimit) + ":" + std::to_string(kOpenFileLimit),
        "--",
        KEYFLEET_CONTROLLER,
        "--db",
        pg_->Url(pg_->CreateDatabase()),
        "--listen",
        address_,
        "--bootstrap-token-file",
        TokenFile(),
        "--log-level",
        "warn"};
    if (GetParam() == Transport::kTls) {
      argv.insert(argv.end(), {"--ca-dir", CaDir(), "--tls-name", "127.0.0.1"});
    } else {
      argv.push_back("--insecure-dev");
    }
    controller_ = SpawnProcess(argv, log_);
    ASSERT_GT(controller_, 0);
    for (int i = 0; i < 150; ++i) {
      if (CliSucceeds()) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "the controller did not come up:\n" << ReadFile(log_);
  }

  void TearDown() override {
    for (int fd : idle_) close(fd);
    if (controller_ > 0) StopProcess(controller_);
  }

  std::string CaDir() const { return dir_->path().string() + "/ca"; }
  std::string TokenFile() const { return dir_->path().string() + "/bootstrap.token"; }

  // One `keyfleet principal list`, killed after `seconds` (its own deadline is 30 s: a port that
  // no longer accepts would hold it that long).
  bool CliSucceeds(int seconds = 3) const {
    std::string transport = GetParam() == Transport::kTls ? " --ca " + CaDir() + "/ca.crt"
                                                          : std::string(" --insecure-dev");
    return RunCommand("timeout " + std::to_string(seconds) +
                      " env -u KEYFLEET_TOKEN HOME=/nonexistent " + std::string(KEYFLEET_CLI) +
                      " --controller " + address_ + transport + " --token-file " + TokenFile() +
                      " principal list >/dev/null 2>&1")
               .exit_code == 0;
  }

  bool LogSays(const std::string& text) const {
    return ReadFile(log_).find(text) != std::string::npos;
  }

  static TempPostgres* pg_;
  std::unique_ptr<ScopedTempDir> dir_;
  int port_ = -1;
  std::string address_;
  std::string log_;
  pid_t controller_ = -1;
  std::vector<int> idle_;
};

TempPostgres* DescriptorExhaustionTest::pg_ = nullptr;

TEST_P(DescriptorExhaustionTest, AcceptsAgainWithinSecondsOnceTheFloodIsGone) {
  // Idle connections until the controller runs out of descriptors and says so.
  bool exhausted = false;
  while (static_cast<int>(idle_.size()) < kMaxIdleConnections && !exhausted) {
    const int fd = ConnectIdle(port_);
    ASSERT_GE(fd, 0) << "connection " << idle_.size() + 1 << ": " << strerror(errno);
    idle_.push_back(fd);
    if (idle_.size() % 16 == 0) {
      std::this_thread::sleep_for(milliseconds(50));  // let the controller accept them
      exhausted = LogSays("Too many open files");
    }
  }
  for (int i = 0; i < 50 && !exhausted; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    exhausted = LogSays("Too many open files");
  }
  ASSERT_TRUE(exhausted) << idle_.size() << " idle connections and no accept failure:\n"
                         << ReadFile(log_);
  const int flood = static_cast<int>(idle_.size());

  // A client arriving now waits: the flood holds every descriptor.
  std::atomic<bool> answered{false};
  bool served = false;
  Clock::time_point answered_at;
  std::thread waiting([&] {
    served = CliSucceeds(kWaitingClientSeconds);
    answered_at = Clock::now();
    answered = true;
  });
  std::this_thread::sleep_for(kFloodHeld);
  EXPECT_FALSE(answered) << "a client was answered while descriptors were exhausted";

  // The flood goes away.
  for (int fd : idle_) close(fd);
  idle_.clear();
  const Clock::time_point gone = Clock::now();
  waiting.join();
  const auto waited = std::chrono::duration_cast<milliseconds>(answered_at - gone);
  EXPECT_TRUE(served) << "the client that arrived during the flood was not served "
                      << waited.count() << " ms after it was gone:\n"
                      << ReadFile(log_);
  EXPECT_LT(waited, kRecoveryBound);

  // And a new one gets through.
  bool recovered = false;
  while (!recovered && Clock::now() - gone < kGiveUpAfter) {
    recovered = CliSucceeds();
    if (!recovered) std::this_thread::sleep_for(milliseconds(100));
  }
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - gone);
  ASSERT_TRUE(recovered) << "no new client got through " << took.count() << " ms after " << flood
                         << " idle connections were closed:\n"
                         << ReadFile(log_);
  EXPECT_LT(took, kRecoveryBound);
  RecordProperty("idle_connections", flood);
  RecordProperty("waiting_client_served_ms", static_cast<int>(waited.count()));
  std::cout << flood << " idle connections exhausted the descriptors; once they were gone the "
            << "waiting client was served after " << waited.count() << " ms, a new one got "
            << "through after " << took.count() << " ms\n";
  std::istringstream log(ReadFile(log_));
  for (std::string line; std::getline(log, line);) {
    if (line.find("accept") != std::string::npos) std::cout << "  controller: " << line << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, DescriptorExhaustionTest,
                         ::testing::Values(Transport::kTls, Transport::kInsecureDev),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kTls ? "Tls" : "InsecureDev";
                         });

}  // namespace
}  // namespace keyfleet::testing
