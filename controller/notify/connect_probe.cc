#include "controller/notify/connect_probe.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tls/held_fd.h"

namespace keyfleet::controller::notify {
namespace {

struct AddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// "Connection refused" -> "connection refused", to read well inside a sentence.
std::string LowerFirst(std::string text) {
  if (!text.empty()) text[0] = absl::ascii_tolower(static_cast<unsigned char>(text[0]));
  return text;
}

std::string ErrnoText(int err) {
  return LowerFirst(std::generic_category().message(err));
}

// 0 when connected; else the errno of the failure (ETIMEDOUT when `deadline` passed).
int TryConnect(const addrinfo& address, absl::Time deadline) {
  tls::HeldFd fd(socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        address.ai_protocol));
  if (fd.get() < 0) return errno;
  if (connect(fd.get(), address.ai_addr, address.ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return ETIMEDOUT;
    pollfd pfd = {fd.get(), POLLOUT, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno;
    if (ready == 0) continue;  // the loop head sees the deadline
    int err = 0;
    socklen_t size = sizeof(err);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &size) != 0) return errno;
    return err;
  }
}

}  // namespace

std::string DescribeConnectFailure(const std::string& host, int port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int resolved = getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &found);
  if (resolved != 0) {
    return absl::StrCat(
        "cannot resolve host ", host, ": ",
        resolved == EAI_SYSTEM ? ErrnoText(errno) : LowerFirst(gai_strerror(resolved)));
  }
  std::unique_ptr<addrinfo, AddrInfoFree> addresses(found);
  int last_error = EADDRNOTAVAIL;
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    last_error = TryConnect(*a, deadline);
    if (last_error == 0) return "";
    if (last_error == ETIMEDOUT) break;
  }
  return last_error == ETIMEDOUT ? "timed out" : ErrnoText(last_error);
}

}  // namespace keyfleet::controller::notify
