#include "controller/http/http_listener.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace keyfleet::controller::http {
namespace {

// A host name as a resolver takes it: letters, digits, '-' and '.'.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text,
                                                 const ListenSetting& setting) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        setting.name, " \"", absl::CHexEscape(text.substr(0, 64)), text.size() > 64 ? "…" : "",
        "\": ", why, "; give HOST:PORT or [IPV6]:PORT (e.g. ", setting.examples, "), or \"off\" ",
        setting.off));
  };
  ListenAddress out;
  if (text.find("://") != absl::string_view::npos) return bad("a URL, not an address");
  absl::string_view host;
  absl::string_view port = text;
  if (absl::ConsumePrefix(&port, "[")) {
    const size_t close = port.find(']');
    if (close == absl::string_view::npos) return bad("no ] after [");
    host = port.substr(0, close);
    port.remove_prefix(close + 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return bad("no IPv6 address in the brackets");
    }
    if (!absl::ConsumePrefix(&port, ":")) return bad("no :PORT after ]");
  } else {
    const size_t colon = port.rfind(':');
    if (colon == absl::string_view::npos) return bad("no port");
    host = port.substr(0, colon);
    port.remove_prefix(colon + 1);
    in_addr v4{};
    if (host.find(':') != absl::string_view::npos) return bad("an IPv6 address goes in brackets");
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1 && !IsHostName(host)) {
      return bad("the host is neither an IPv4 address nor a host name");
    }
  }
  uint32_t number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  out.host = std::string(host);
  out.port = static_cast<int>(number);
  return out;
}

absl::StatusOr<std::optional<std::string>> ParseOptionalListen(absl::string_view text,
                                                               const ListenSetting& setting) {
  if (text.empty() || text == "off") return std::optional<std::string>();
  absl::StatusOr<ListenAddress> address = ParseListenAddress(text, setting);
  if (!address.ok()) return address.status();
  return std::optional<std::string>(std::string(text));
}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    httplib::Server& server, const ListenAddress& address, absl::string_view what,
    const ListenSetting& setting, std::shared_ptr<void> keep_alive) {
  std::unique_ptr<HttpListener> self(new HttpListener(server));
  server.set_socket_options([](socket_t fd) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  errno = 0;
  if (address.port == 0) {
    self->port_ = server.bind_to_any_port(address.host);
  } else if (server.bind_to_port(address.host, address.port)) {
    self->port_ = address.port;
  }
  if (self->port_ <= 0) {
    const int error = errno;
    return absl::UnavailableError(
        absl::StrCat("cannot serve ", what, " on ", address.host, ":", address.port, ": ",
                     error == EADDRINUSE ? "the port is in use (another controller?)"
                     : error != 0        ? std::strerror(error)
                                         : "the address cannot be bound",
                     "; set ", setting.name, " to a free address, or \"off\""));
  }
  self->detachable_ = keep_alive != nullptr;
  // Nothing of `self` is touched by the thread: it may be detached and outlive it.
  self->thread_ = std::thread(
      [server = &server, returned = self->listen_returned_, keep_alive = std::move(keep_alive)] {
        server->listen_after_bind();
        *returned = true;
      });
  return self;
}

HttpListener::~HttpListener() {
  Stop();
}

void HttpListener::Stop(absl::Duration max_wait) {
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing until listen_after_bind() is running, which would then accept
  // forever and the join below never return (a start-up failure right after Start() hung the
  // controller): wait for it to run, or to have returned.
  while (!server_.is_running() && !*listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_.stop();
  if (detachable_ && max_wait != absl::InfiniteDuration()) {
    const absl::Time until = absl::Now() + max_wait;
    while (!*listen_returned_ && absl::Now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!*listen_returned_) {
      thread_.detach();
      return;
    }
  }
  thread_.join();
}

}  // namespace keyfleet::controller::http
