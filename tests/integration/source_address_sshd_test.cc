// from="PATTERN-LIST" decided by a real sshd (OpenSSH 9.2, default UseDNS no) and by
// MatchFromOption must agree: for each pattern list the account's authorized_keys gets
// `from="LIST" KEY`, and the real ssh client logs in from 127.0.0.1, 127.0.0.2 and ::1 (and,
// through an inetd-style dual-stack socket, from the IPv4-mapped ::ffff:127.0.0.1). Label: sshd.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/source_address_match.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Accepting(int family, const char* address, int port) {
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return false;
  bool ok = false;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, address, &a.sin_addr);
    ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, address, &a.sin6_addr);
    ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  close(fd);
  return ok;
}

// The sshd settings of SshdFixture, plus LogLevel DEBUG1: only at that level does sshd say
// "invalid from criteria", which tells an invalid list from one that just did not match (DEBUG3
// also shows sshd normalising a mapped peer).
std::string SshdConfig(const SshdFixture& fixture, int port, const std::string& extra,
                       const std::string& log_level = "DEBUG1") {
  std::ostringstream config;
  config << "Port " << port << "\n"
         << extra << "HostKey " << fixture.dir() << "/host_key\n"
         << "PidFile " << fixture.dir() << "/from-sshd-" << port << ".pid\n"
         << "AuthorizedKeysFile .ssh/authorized_keys\n"
         << "StrictModes yes\n"
         << "PubkeyAuthentication yes\n"
         << "PasswordAuthentication no\n"
         << "KbdInteractiveAuthentication no\n"
         << "UsePAM no\n"
         << "AllowUsers " << fixture.user() << "\n"
         << "LogLevel " << log_level << "\n";
  return config.str();
}

// A second sshd for the same account, listening on 127.0.0.1 and ::1; stopped with the object.
class DualStackSshd {
 public:
  explicit DualStackSshd(const SshdFixture& fixture) {
    port_ = FreeLoopbackPort();
    config_ = fixture.dir() + "/from-sshd_config";
    log_ = fixture.dir() + "/from-sshd.log";
    std::ofstream(config_) << SshdConfig(fixture, port_,
                                         "ListenAddress 127.0.0.1\nListenAddress ::1\n");
    pid_ = SpawnProcess({"/usr/sbin/sshd", "-D", "-f", config_, "-E", log_});
    for (int i = 0;
         i < 100 && !(Accepting(AF_INET, "127.0.0.1", port_) && Accepting(AF_INET6, "::1", port_));
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~DualStackSshd() {
    if (pid_ > 0) StopProcess(pid_);
  }
  bool ready() const {
    return pid_ > 0 && Accepting(AF_INET, "127.0.0.1", port_) && Accepting(AF_INET6, "::1", port_);
  }
  int port() const { return port_; }
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string config_;
  std::string log_;
};

// The real ssh client, bound to `source`, to `destination`:`port`. True when the command ran.
bool LoginFrom(const SshdFixture& fixture, const std::string& source,
               const std::string& destination, int port) {
  CommandResult r = RunCommand(
      "ssh -F /dev/null -p " + std::to_string(port) + " -b " + source + " -i " + fixture.dir() +
      "/from -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"
      " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 " +
      fixture.user() + "@" + destination + " echo from-ok 2>/dev/null");
  return r.exit_code == 0 && r.out == "from-ok\n";
}

// What sshd logged from `offset` on, waiting up to a second for `needle` to appear (the monitor
// writes its line just before the client gives up, so it may land a moment later).
std::string LogSince(const std::string& path, size_t offset, const std::string& needle) {
  std::string log;
  for (int i = 0; i < 20; ++i) {
    log = ReadFile(path);
    log = offset < log.size() ? log.substr(offset) : "";
    if (log.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return log;
}

// What sshd must have logged for the decision: the address it saw, and why it refused.
void ExpectLogFits(const std::string& log, const std::string& source_text,
                   const SourceDecision& expected) {
  if (expected.result == SourceMatch::kAllowed) {
    EXPECT_THAT(log, HasSubstr("Accepted publickey for"));
    EXPECT_THAT(log, HasSubstr(" from " + source_text + " port "));
    return;
  }
  // The key was found and refused for its from= option, from the address we matched.
  EXPECT_THAT(log, HasSubstr("correct key but not from a permitted host"));
  EXPECT_THAT(log, HasSubstr("ip=" + source_text + ","));
  if (expected.result == SourceMatch::kBadPattern) {
    EXPECT_THAT(log, HasSubstr("invalid from criteria"));
  } else {
    EXPECT_THAT(log, Not(HasSubstr("invalid from criteria")));
  }
}

const char* ResultName(SourceMatch result) {
  switch (result) {
    case SourceMatch::kAllowed:
      return "allowed";
    case SourceMatch::kDenied:
      return "denied";
    case SourceMatch::kBadPattern:
      return "bad pattern";
  }
  return "?";
}

const std::vector<std::string>& PatternLists() {
  static const std::vector<std::string> lists = {
      "127.0.0.1",
      "127.0.0.0/8",
      "!127.0.0.1,*",
      "10.0.0.0/8",
      "127.*",
      "127.0.0.1/8",  // host bits set: sshd calls the list invalid
      "::1",
      "*",
      "127.0.0.2",
      "!127.0.0.0/8,::1",
      "*,!127.0.0.2",
      "127.1",       // glibc's getaddrinfo shorthand for 127.0.0.1
      "2130706433",  // and the 32-bit integer form
      "0x7f.0.0.1",
      "127.0.0.0/33",            // out of range for IPv4: invalid list
      "127.0.0.0/129",           // past 128: a wildcard that matches nothing
      "127.0.0.1,",              // trailing comma: invalid list
      "!127.0.0.1,127.0.0.1/8",  // a negated match is reached before the invalid entry
      "::ffff:127.0.0.1",
      "::/0",
      "::1/128",
      "0:0:0:0:0:0:0:1",
      "::*",
      "::1%0",
      "::1%1",
      "!::1,*",
      "127.0.0.1/",
  };
  return lists;
}

TEST(SourceAddressSshd, RealSshdDecidesAsMatchFromOption) {
  SshdFixture fixture;
  const std::string key = fixture.NewKey("from");
  DualStackSshd dual(fixture);
  ASSERT_TRUE(dual.ready()) << ReadFile(dual.log());

  struct Source {
    std::string bind;         // ssh -b
    std::string destination;  // where the dual-stack sshd listens for it
  };
  const std::vector<Source> sources = {
      {"127.0.0.1", "127.0.0.1"}, {"127.0.0.2", "127.0.0.1"}, {"::1", "::1"}};
  int outcomes[3] = {0, 0, 0};
  for (const std::string& patterns : PatternLists()) {
    SCOPED_TRACE("from=\"" + patterns + "\"");
    // Exactly one line in the account's authorized_keys.
    ASSERT_TRUE(fixture.AddAuthorizedKeys(fixture.user(), {"from=\"" + patterns + "\" " + key}));
    for (const Source& source : sources) {
      SCOPED_TRACE("from source " + source.bind);
      absl::StatusOr<SourceAddress> address = ParseSourceAddress(source.bind);
      ASSERT_TRUE(address.ok()) << address.status();
      const SourceDecision expected = MatchFromOption(patterns, *address);
      ++outcomes[static_cast<int>(expected.result)];
      const size_t offset = ReadFile(dual.log()).size();
      const bool logged_in = LoginFrom(fixture, source.bind, source.destination, dual.port());
      EXPECT_EQ(logged_in, expected.result == SourceMatch::kAllowed)
          << "MatchFromOption: " << ResultName(expected.result) << ": " << expected.reason;
      ExpectLogFits(LogSince(dual.log(), offset,
                             expected.result == SourceMatch::kAllowed ? "Accepted publickey"
                                                                      : "not from a permitted"),
                    address->text, expected);
    }
    // The fixture's own sshd (its settings unchanged, 127.0.0.1) agrees as well.
    const SourceDecision expected = MatchFromOption(patterns, *ParseSourceAddress("127.0.0.1"));
    std::string out;
    EXPECT_EQ(fixture.Login("from", "echo from-ok", &out) && out == "from-ok\n",
              expected.result == SourceMatch::kAllowed)
        << "fixture sshd; MatchFromOption: " << expected.reason;
  }
  // The table reaches all three outcomes, so agreement is not agreement on one answer.
  EXPECT_GT(outcomes[static_cast<int>(SourceMatch::kAllowed)], 0);
  EXPECT_GT(outcomes[static_cast<int>(SourceMatch::kDenied)], 0);
  EXPECT_GT(outcomes[static_cast<int>(SourceMatch::kBadPattern)], 0);
}

// One inetd-style login: a dual-stack IPv6 socket on ::ffff:127.0.0.1 accepts the IPv4 client,
// and `sshd -i` gets the accepted socket, whose peer is the mapped ::ffff:127.0.0.1. Returns
// whether the login worked; `log` gets sshd's log.
bool LoginThroughMappedSocket(const SshdFixture& fixture, std::string* log) {
  const std::string log_path = fixture.dir() + "/from-inetd.log";
  std::remove(log_path.c_str());
  const std::string config = fixture.dir() + "/from-inetd_config";
  std::ofstream(config) << SshdConfig(fixture, 22, "", "DEBUG3");

  int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return false;
  int off = 0;
  setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  sockaddr_in6 bound{};
  bound.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &bound.sin6_addr);
  socklen_t length = sizeof(bound);
  if (bind(listener, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    close(listener);
    return false;
  }
  const int port = ntohs(bound.sin6_port);
  const pid_t child = fork();
  if (child == 0) {
    pollfd ready{listener, POLLIN, 0};
    if (poll(&ready, 1, 15000) != 1) _exit(2);
    const int connection = accept(listener, nullptr, nullptr);
    if (connection < 0 || dup2(connection, 0) < 0 || dup2(connection, 1) < 0) _exit(3);
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-i", "-f", config.c_str(), "-E", log_path.c_str(),
          nullptr);
    _exit(127);
  }
  close(listener);
  const bool logged_in = child > 0 && LoginFrom(fixture, "127.0.0.1", "127.0.0.1", port);
  if (child > 0) {
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 100 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (done == 0) StopProcess(child, 1000);
  }
  *log = ReadFile(log_path);
  return logged_in;
}

TEST(SourceAddressSshd, MappedPeerIsMatchedAsIPv4) {
  SshdFixture fixture;
  const std::string key = fixture.NewKey("from");
  absl::StatusOr<SourceAddress> mapped = ParseSourceAddress("::ffff:127.0.0.1");
  ASSERT_TRUE(mapped.ok());
  ASSERT_EQ(mapped->text, "127.0.0.1");
  for (const std::string patterns : {"127.0.0.1", "::ffff:127.0.0.1", "::ffff:127.0.0.0/104",
                                     "127.0.0.0/8,!::ffff:127.0.0.1", "::ffff:*", "::/0"}) {
    SCOPED_TRACE("from=\"" + patterns + "\"");
    // Exactly one line in the account's authorized_keys.
    ASSERT_TRUE(fixture.AddAuthorizedKeys(fixture.user(), {"from=\"" + patterns + "\" " + key}));
    const SourceDecision expected = MatchFromOption(patterns, *mapped);
    std::string log;
    const bool logged_in = LoginThroughMappedSocket(fixture, &log);
    EXPECT_EQ(logged_in, expected.result == SourceMatch::kAllowed)
        << "MatchFromOption: " << ResultName(expected.result) << ": " << expected.reason << "\n"
        << log;
    ExpectLogFits(log, "127.0.0.1", expected);
    // sshd did see a mapped peer and turned it into IPv4.
    EXPECT_THAT(log, HasSubstr("Normalising mapped IPv4 in IPv6 address")) << log;
  }
}

}  // namespace
}  // namespace keyfleet::testing
