// The controller's own listener (controller/service/connection_acceptor.h): listen addresses, one
// table of good ones and one of bad ones with the reason each must give; binding (port 0, a busy
// port, IPv6 loopback); and the accept loop, which hands connections over and keeps accepting
// after running out of descriptors. No gRPC server: a recording stand-in takes the connections.
#include "controller/service/connection_acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseListenAddress, AcceptsHostAndPort) {
  struct Row {
    const char* listen;
    const char* host;
    int port;
    bool wildcard;
  };
  const Row rows[] = {
      {"127.0.0.1:7443", "127.0.0.1", 7443, false},
      {"[::1]:7443", "::1", 7443, false},
      {"localhost:0", "localhost", 0, false},
      {"controller.example.com:65535", "controller.example.com", 65535, false},
      {"0.0.0.0:7443", "0.0.0.0", 7443, true},
      {"[::]:7443", "::", 7443, true},
      {"[0:0::0]:1", "0:0::0", 1, true},
      {"[fe80::1]:1", "fe80::1", 1, false},
  };
  for (const Row& row : rows) {
    absl::StatusOr<ListenAddress> parsed = ParseListenAddress(row.listen);
    ASSERT_TRUE(parsed.ok()) << row.listen << ": " << parsed.status();
    EXPECT_EQ(parsed->host, row.host) << row.listen;
    EXPECT_EQ(parsed->port, row.port) << row.listen;
    EXPECT_EQ(parsed->wildcard, row.wildcard) << row.listen;
  }
}

TEST(ParseListenAddress, RefusesWithTheReason) {
  struct Row {
    std::string listen;
    const char* reason;
  };
  const Row rows[] = {
      {"", "no port"},
      {"127.0.0.1", "no port"},
      {"localhost", "no port"},
      {":7443", "no host"},
      {"[]:7443", "no host"},
      {"::1:7443", "in brackets"},
      {"::1", "in brackets"},
      {"[::1:7443", "no ] after ["},
      {"[::1]7443", "no :PORT after ]"},
      {"[::1]", "no :PORT after ]"},
      {"[127.0.0.1]:7443", "not an IPv6 address"},
      {"[localhost]:7443", "not an IPv6 address"},
      {"127.0.0.1:", "from 0 to 65535"},
      {"127.0.0.1:65536", "from 0 to 65535"},
      {"127.0.0.1:-1", "from 0 to 65535"},
      {"127.0.0.1:+80", "from 0 to 65535"},
      {"127.0.0.1: 80", "from 0 to 65535"},
      {"127.0.0.1:https", "from 0 to 65535"},
      {"127.0.0.1:7443\n", "from 0 to 65535"},
      {"127.0.0.1:0000080", "from 0 to 65535"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<ListenAddress> parsed = ParseListenAddress(row.listen);
    ASSERT_FALSE(parsed.ok()) << row.listen;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << row.listen;
    EXPECT_THAT(parsed.status().message(), HasSubstr(row.reason)) << row.listen;
    EXPECT_THAT(parsed.status().message(), HasSubstr("HOST:PORT")) << row.listen;
  }
}

TEST(ParseListenAddress, RepeatsOnlyAShortPrefixOfABadAddress) {
  const std::string huge(1 << 20, 'a');
  absl::StatusOr<ListenAddress> parsed = ParseListenAddress(huge);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 300u);
}

// Connections the accept loop handed over, kept open until the end of the test.
class Handed {
 public:
  ~Handed() {
    for (int fd : fds_) close(fd);
  }
  void Add(int fd, int listener_fd) {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
    listener_fds_.push_back(listener_fd);
    cv_.notify_all();
  }
  bool AwaitCount(size_t count, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return fds_.size() >= count; });
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return fds_.size();
  }
  int fd(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return fds_.at(i);
  }
  int listener_fd(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return listener_fds_.at(i);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  std::vector<int> listener_fds_;
};

class RecordingAcceptor : public grpc::experimental::ExternalConnectionAcceptor {
 public:
  explicit RecordingAcceptor(Handed* handed) : handed_(handed) {}
  void HandleNewConnection(NewConnectionParameters* p) override {
    handed_->Add(p->fd, p->listener_fd);
  }

 private:
  Handed* handed_;
};

std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> RecordInto(Handed* handed) {
  return std::make_unique<RecordingAcceptor>(handed);
}

// A connected client socket (its connection may still wait in the accept queue); -1 if refused.
tls::HeldFd Connect(int family, const char* address, int port) {
  tls::HeldFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage to{};
  socklen_t length = 0;
  if (family == AF_INET6) {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(to);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, address, &v6.sin6_addr);
    length = sizeof(v6);
  } else {
    auto& v4 = reinterpret_cast<sockaddr_in&>(to);
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, address, &v4.sin_addr);
    length = sizeof(v4);
  }
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&to), length) != 0) return tls::HeldFd();
  return fd;
}

int LocalPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(address).sin6_port
                                             : reinterpret_cast<sockaddr_in&>(address).sin_port);
}

int PeerPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(address).sin6_port
                                             : reinterpret_cast<sockaddr_in&>(address).sin_port);
}

TEST(ConnectionAcceptor, PortZeroPicksAPortAndConnectionsAreHandedOverReadyForGrpc) {
  ConnectionAcceptorOptions options;
  options.tcp_user_timeout = milliseconds(7000);
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
      ConnectionAcceptor::Listen("127.0.0.1:0", options);
  ASSERT_TRUE(acceptor.ok()) << acceptor.status();
  const int port = (*acceptor)->port();
  ASSERT_GT(port, 0);
  EXPECT_THAT((*acceptor)->addresses(), ElementsAre("127.0.0.1:" + std::to_string(port)));
  Handed handed;
  (*acceptor)->Start(RecordInto(&handed));
  tls::HeldFd client = Connect(AF_INET, "127.0.0.1", port);
  ASSERT_GE(client.get(), 0);
  ASSERT_TRUE(handed.AwaitCount(1, milliseconds(5000)));
  const int fd = handed.fd(0);
  EXPECT_EQ(PeerPort(fd), LocalPort(client.get())) << "the client's own connection";
  EXPECT_GE(handed.listener_fd(0), 0);
  // gRPC's endpoints need a non-blocking descriptor; its listener turns Nagle off and sets
  // TCP_USER_TIMEOUT from the keepalive timeout.
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  int nodelay = 0;
  socklen_t length = sizeof(nodelay);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
  EXPECT_EQ(nodelay, 1);
  unsigned int user_timeout = 0;
  length = sizeof(user_timeout);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, &length), 0);
  EXPECT_EQ(user_timeout, 7000u);
}

TEST(ConnectionAcceptor, ABusyPortIsAnErrorNeverShared) {
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> first =
      ConnectionAcceptor::Listen("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> second = ConnectionAcceptor::Listen(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen on " + taken));
  EXPECT_THAT(second.status().message(), HasSubstr("address in use"));

  // Not even beside a socket that allows SO_REUSEPORT (as gRPC's own listener does by default):
  // the port would then be shared between two processes without a word.
  tls::HeldFd sharing(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ASSERT_EQ(setsockopt(sharing.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(sharing.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(sharing.get(), 8), 0);
  const std::string shared = "127.0.0.1:" + std::to_string(LocalPort(sharing.get()));
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> beside = ConnectionAcceptor::Listen(shared);
  ASSERT_FALSE(beside.ok());
  EXPECT_THAT(beside.status().message(), HasSubstr("address in use"));
}

TEST(ConnectionAcceptor, ServesIpv6LoopbackAndNames) {
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> v6 = ConnectionAcceptor::Listen("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  const int port = (*v6)->port();
  EXPECT_THAT((*v6)->addresses(), ElementsAre("[::1]:" + std::to_string(port)));
  Handed handed;
  (*v6)->Start(RecordInto(&handed));
  tls::HeldFd client = Connect(AF_INET6, "::1", port);
  ASSERT_GE(client.get(), 0);
  EXPECT_TRUE(handed.AwaitCount(1, milliseconds(5000)));

  // A name: every address it resolves to, on one port.
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> named =
      ConnectionAcceptor::Listen("localhost:0");
  ASSERT_TRUE(named.ok()) << named.status();
  ASSERT_FALSE((*named)->addresses().empty());
  for (const std::string& address : (*named)->addresses()) {
    EXPECT_THAT(address, ::testing::EndsWith(":" + std::to_string((*named)->port())));
  }
}

TEST(ConnectionAcceptor, AStoppedAcceptorRefusesConnections) {
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
      ConnectionAcceptor::Listen("127.0.0.1:0");
  ASSERT_TRUE(acceptor.ok()) << acceptor.status();
  const int port = (*acceptor)->port();
  Handed handed;
  (*acceptor)->Start(RecordInto(&handed));
  (*acceptor)->Stop();
  (*acceptor)->Stop();  // idempotent
  EXPECT_LT(Connect(AF_INET, "127.0.0.1", port).get(), 0);
  EXPECT_EQ(handed.count(), 0u);
}

// The process's log, captured (read it once the accept thread has stopped).
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

// The soft limit that leaves this process exactly `room` more descriptors: new ones take the
// lowest free numbers, and a number at or past the limit is refused.
rlim_t LimitLeavingRoomFor(int room) {
  std::vector<tls::HeldFd> probes;
  for (int i = 0; i < room; ++i) probes.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  return static_cast<rlim_t>(probes.back().get() + 1);
}

size_t Occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

TEST(ConnectionAcceptor, KeepsAcceptingAfterRunningOutOfDescriptors) {
  CapturedLog log;
  ConnectionAcceptorOptions options;
  options.exhausted_pause = milliseconds(20);
  absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
      ConnectionAcceptor::Listen("127.0.0.1:0", options);
  ASSERT_TRUE(acceptor.ok()) << acceptor.status();
  // Connections wait in the accept queue before the loop runs.
  constexpr size_t kClients = 24;
  std::vector<tls::HeldFd> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(Connect(AF_INET, "127.0.0.1", (*acceptor)->port()));
    ASSERT_GE(clients.back().get(), 0);
  }
  // Room for a few more descriptors in this process, no more.
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit low = saved;
  low.rlim_cur = LimitLeavingRoomFor(4);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Handed handed;
  (*acceptor)->Start(RecordInto(&handed));
  EXPECT_TRUE(handed.AwaitCount(1, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(300));
  const size_t while_exhausted = handed.count();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(while_exhausted, kClients) << "the limit never stopped accepting";
  // Descriptors again: the rest are accepted within a pause or two.
  EXPECT_TRUE(handed.AwaitCount(kClients, milliseconds(3000))) << handed.count();
  (*acceptor)->Stop();
  const std::string text = log.text();
  EXPECT_EQ(Occurrences(text, "Too many open files"), 1u) << "once per burst:\n" << text;
  EXPECT_THAT(text, HasSubstr("cannot accept connections on 127.0.0.1:"));
  EXPECT_THAT(text, HasSubstr("accepting connections on 127.0.0.1:"));
  EXPECT_THAT(text, HasSubstr(" again after "));
}

}  // namespace
}  // namespace keyfleet::controller
