#include "controller/service/connection_acceptor.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// The kernel caps the accept queue at net.core.somaxconn, the figure gRPC asks for too.
constexpr int kListenBacklog = 65535;
// Connections taken from one socket before the others get their turn.
constexpr int kAcceptBatch = 64;
// The pause after an accept error that should never happen (a broken listening socket).
constexpr milliseconds kUnexpectedErrorPause{1000};
// How much of a malformed listen address an error repeats.
constexpr size_t kEchoedAddressChars = 64;

absl::Status BadAddress(absl::string_view listen, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("listen address \"", absl::CHexEscape(listen.substr(0, kEchoedAddressChars)),
                   listen.size() > kEchoedAddressChars ? "…" : "", "\": ", why,
                   " (use HOST:PORT, e.g. 127.0.0.1:7443, [::1]:7443, localhost:7443 or "
                   "0.0.0.0:7443 for every address)"));
}

std::string ErrorText(int error) {
  return std::strerror(error);
}

unsigned long OpenFileLimit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<unsigned long>(limit.rlim_cur);
}

// "127.0.0.1:7443" or "[::1]:7443".
std::string Describe(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return absl::StrCat("[", text, "]:", ntohs(v6.sin6_port));
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
  return absl::StrCat(text, ":", ntohs(v4.sin_port));
}

void SetPort(sockaddr_storage& address, int port) {
  if (address.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(address).sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in&>(address).sin_port = htons(static_cast<uint16_t>(port));
  }
}

socklen_t Length(const sockaddr_storage& address) {
  return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool Ipv6Available() {
  tls::HeldFd probe(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return probe.get() >= 0;
}

// Every address a listen address stands for, in the resolver's order.
absl::StatusOr<std::vector<sockaddr_storage>> Resolve(const ListenAddress& address,
                                                      absl::string_view listen) {
  std::vector<sockaddr_storage> out;
  if (address.wildcard) {
    // One dual-stack [::] socket when the host has IPv6, as gRPC binds a wildcard.
    sockaddr_storage any{};
    if (Ipv6Available()) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(any);
      v6.sin6_family = AF_INET6;
      v6.sin6_addr = in6addr_any;
    } else {
      auto& v4 = reinterpret_cast<sockaddr_in&>(any);
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_ANY);
    }
    out.push_back(any);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int failed = getaddrinfo(address.host.c_str(), nullptr, &hints, &found);
  if (failed != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": cannot resolve ",
                                               address.host, ": ", gai_strerror(failed)));
  }
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
        a->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    sockaddr_storage one{};
    std::memcpy(&one, a->ai_addr, a->ai_addrlen);
    bool seen = false;
    for (const sockaddr_storage& other : out) {
      seen = seen || std::memcmp(&other, &one, sizeof(one)) == 0;
    }
    if (!seen) out.push_back(one);
  }
  freeaddrinfo(found);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", address.host,
                                               " has no IPv4 or IPv6 address"));
  }
  return out;
}

// A listening socket on `address`, which may name port 0. `dual_stack` for the [::] wildcard.
absl::StatusOr<tls::HeldFd> BindAndListen(const sockaddr_storage& address, bool dual_stack) {
  tls::HeldFd fd(socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::UnavailableError(ErrorText(errno));
  const int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return absl::UnavailableError(absl::StrCat("SO_REUSEADDR: ", ErrorText(errno)));
  }
  if (address.ss_family == AF_INET6) {
    const int v6_only = dual_stack ? 0 : 1;
    if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof(v6_only)) != 0) {
      return absl::UnavailableError(absl::StrCat("IPV6_V6ONLY: ", ErrorText(errno)));
    }
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), Length(address)) != 0) {
    const int error = errno;
    return absl::UnavailableError(error == EADDRINUSE
                                      ? "address in use (is another controller listening there?)"
                                      : ErrorText(error));
  }
  if (listen(fd.get(), kListenBacklog) != 0) return absl::UnavailableError(ErrorText(errno));
  return fd;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen) {
  ListenAddress out;
  absl::string_view rest = listen;
  absl::string_view host;
  bool bracketed = false;
  if (absl::ConsumePrefix(&rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) return BadAddress(listen, "no ] after [");
    host = rest.substr(0, close);
    rest.remove_prefix(close + 1);
    if (!absl::ConsumePrefix(&rest, ":")) return BadAddress(listen, "no :PORT after ]");
    bracketed = true;
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return BadAddress(listen, "no port");
    host = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return BadAddress(listen, "an IPv6 address goes in brackets, [ADDRESS]:PORT");
    }
  }
  if (host.empty()) return BadAddress(listen, "no host");
  uint32_t port = 0;
  if (rest.empty() || rest.size() > 5 ||
      !std::all_of(rest.begin(), rest.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(rest, &port) || port > 65535) {
    return BadAddress(listen, "the port is not a number from 0 to 65535");
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(port);
  if (bracketed) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &v6) != 1) {
      return BadAddress(listen, "not an IPv6 address in the brackets");
    }
    out.wildcard = IN6_IS_ADDR_UNSPECIFIED(&v6);
  } else {
    out.wildcard = out.host == "0.0.0.0";
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> ConnectionAcceptor::Listen(
    absl::string_view listen, ConnectionAcceptorOptions options) {
  KF_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(listen));
  KF_ASSIGN_OR_RETURN(std::vector<sockaddr_storage> targets, Resolve(address, listen));
  std::vector<Socket> sockets;
  std::vector<std::string> refused;
  int port = address.port;
  for (sockaddr_storage target : targets) {
    SetPort(target, port);  // port 0 once: the rest take the port the first one got
    absl::StatusOr<tls::HeldFd> fd = BindAndListen(target, address.wildcard);
    if (!fd.ok()) {
      refused.push_back(targets.size() == 1
                            ? std::string(fd.status().message())
                            : absl::StrCat(Describe(target), ": ", fd.status().message()));
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    if (getsockname(fd->get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      refused.push_back(absl::StrCat(Describe(target), ": getsockname: ", ErrorText(errno)));
      continue;
    }
    port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                             : reinterpret_cast<sockaddr_in&>(bound).sin_port);
    sockets.push_back(Socket{std::move(*fd), Describe(bound)});
  }
  if (sockets.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, ": ", absl::StrJoin(refused, "; ")));
  }
  for (const std::string& why : refused) {
    spdlog::warn("{}: not listening on {}", std::string(listen), why);
  }
  tls::HeldFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, ": eventfd: ", ErrorText(errno)));
  }
  return std::unique_ptr<ConnectionAcceptor>(
      new ConnectionAcceptor(std::move(sockets), port, std::move(wake), options));
}

ConnectionAcceptor::ConnectionAcceptor(std::vector<Socket> sockets, int port, tls::HeldFd wake,
                                       ConnectionAcceptorOptions options)
    : sockets_(std::move(sockets)), port_(port), wake_(std::move(wake)), options_(options) {}

ConnectionAcceptor::~ConnectionAcceptor() {
  Stop();
}

std::vector<std::string> ConnectionAcceptor::addresses() const {
  std::vector<std::string> out;
  for (const Socket& socket : sockets_) out.push_back(socket.name);
  return out;
}

void ConnectionAcceptor::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> to_grpc) {
  if (stopped_ || thread_.joinable()) return;
  to_grpc_ = std::move(to_grpc);
  thread_ = std::thread([this] { Run(); });
}

void ConnectionAcceptor::Stop() {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  if (write(wake_.get(), &one, sizeof(one)) < 0) {
    // Cannot happen to an eventfd short of a bug; the join below would then hang.
    spdlog::critical("stopping the accept loop: {}", ErrorText(errno));
  }
  if (thread_.joinable()) thread_.join();
  sockets_.clear();  // closes them: connections are refused from here on
}

void ConnectionAcceptor::Run() {
  pthread_setname_np(pthread_self(), "kf-accept");
  std::vector<pollfd> watched;
  watched.push_back(pollfd{wake_.get(), POLLIN, 0});
  for (const Socket& socket : sockets_) watched.push_back(pollfd{socket.fd.get(), POLLIN, 0});
  while (!stopped_) {
    if (poll(watched.data(), watched.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("accept loop: poll: {}", ErrorText(errno));
      if (!Sleep(kUnexpectedErrorPause)) return;
      continue;
    }
    if (watched[0].revents != 0) return;
    for (size_t i = 1; i < watched.size(); ++i) {
      if (watched[i].revents != 0 && !AcceptQueued(sockets_[i - 1])) return;
    }
  }
}

bool ConnectionAcceptor::AcceptQueued(const Socket& socket) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    const int fd = accept4(socket.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      NoteAccepted(socket);
      HandOver(socket, fd);
      continue;
    }
    const int error = errno;
    switch (error) {
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        return true;
      // A signal, or a connection that failed while queued (Linux reports its network errors
      // here; accept(2) says to go on): the next one.
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        continue;
      default:
        return PauseAfter(socket, error);
    }
  }
  return true;
}

void ConnectionAcceptor::HandOver(const Socket& socket, int fd) {
  // What gRPC's own listener sets on its sockets (and so on every connection it accepts).
  const int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (options_.tcp_user_timeout.count() > 0) {
    const unsigned int timeout_ms = static_cast<unsigned int>(options_.tcp_user_timeout.count());
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms));
  }
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
  connection.listener_fd = socket.fd.get();
  connection.fd = fd;  // gRPC's from here: it closes it
  to_grpc_->HandleNewConnection(&connection);
}

bool ConnectionAcceptor::PauseAfter(const Socket& socket, int error) {
  const bool exhausted = error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
  const milliseconds pause = exhausted ? options_.exhausted_pause : kUnexpectedErrorPause;
  const SteadyClock::time_point now = SteadyClock::now();
  ++failures_;
  if (!failing_) {
    failing_ = true;
    failing_since_ = now;
    last_report_ = now;
    failures_ = 1;
    if (exhausted) {
      spdlog::error(
          "cannot accept connections on {}: {} (open-file limit {}); new connections wait in "
          "the kernel's queue and are served as soon as descriptors are free (retrying every "
          "{} ms)",
          socket.name, ErrorText(error), OpenFileLimit(), pause.count());
    } else {
      spdlog::error("cannot accept connections on {}: {} (retrying every {} ms)", socket.name,
                    ErrorText(error), pause.count());
    }
  } else if (now - last_report_ >= options_.repeat_report_after) {
    last_report_ = now;
    spdlog::error("still cannot accept connections on {}: {} (for {} s, {} attempts)", socket.name,
                  ErrorText(error),
                  std::chrono::duration_cast<std::chrono::seconds>(now - failing_since_).count(),
                  failures_);
  }
  return Sleep(pause);
}

void ConnectionAcceptor::NoteAccepted(const Socket& socket) {
  if (!failing_) return;
  failing_ = false;
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - failing_since_).count();
  spdlog::warn("accepting connections on {} again after {:.1f} s ({} attempts failed)", socket.name,
               seconds, failures_);
}

bool ConnectionAcceptor::Sleep(milliseconds pause) {
  pollfd wake{wake_.get(), POLLIN, 0};
  const int woken = poll(&wake, 1, static_cast<int>(pause.count()));
  return woken <= 0 && !stopped_;
}

}  // namespace keyfleet::controller
