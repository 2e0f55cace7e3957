#include "controller/metrics/http_server.h"

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

namespace keyfleet::controller::metrics {
namespace {

// How long a connection may take to send its request: a client that sends nothing holds one of
// the kHttpThreads no longer than this (probes time out after a second by default).
constexpr time_t kReadTimeoutSeconds = 2;
constexpr char kExpositionType[] = "text/plain; version=0.0.4; charset=utf-8";

// A host name as a resolver takes it: letters, digits, '-' and '.'.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

absl::Status BadListen(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "metrics_listen \"", absl::CHexEscape(text.substr(0, 64)), text.size() > 64 ? "…" : "",
      "\": ", why,
      "; give HOST:PORT or [IPV6]:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464), or "
      "\"off\" to serve no metrics"));
}

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view text) {
  HostPort out;
  if (text.find("://") != absl::string_view::npos) return BadListen(text, "a URL, not an address");
  absl::string_view host;
  absl::string_view port = text;
  if (absl::ConsumePrefix(&port, "[")) {
    const size_t close = port.find(']');
    if (close == absl::string_view::npos) return BadListen(text, "no ] after [");
    host = port.substr(0, close);
    port.remove_prefix(close + 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return BadListen(text, "no IPv6 address in the brackets");
    }
    if (!absl::ConsumePrefix(&port, ":")) return BadListen(text, "no :PORT after ]");
  } else {
    const size_t colon = port.rfind(':');
    if (colon == absl::string_view::npos) return BadListen(text, "no port");
    host = port.substr(0, colon);
    port.remove_prefix(colon + 1);
    in_addr v4{};
    if (host.find(':') != absl::string_view::npos) {
      return BadListen(text, "an IPv6 address goes in brackets");
    }
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1 && !IsHostName(host)) {
      return BadListen(text, "the host is neither an IPv4 address nor a host name");
    }
  }
  uint32_t number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return BadListen(text, "the port is not a number from 0 to 65535");
  }
  out.host = std::string(host);
  out.port = static_cast<int>(number);
  return out;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ParseMetricsListen(absl::string_view text) {
  if (text.empty() || text == "off") return std::optional<std::string>();
  absl::StatusOr<HostPort> address = SplitHostPort(text);
  if (!address.ok()) return address.status();
  return std::optional<std::string>(std::string(text));
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, HttpHandlers handlers) {
  absl::StatusOr<HostPort> address = SplitHostPort(listen);
  if (!address.ok()) return address.status();
  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer());
  self->handlers_ = std::move(handlers);
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *self->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second controller bind the
  // same port and take half of the scrapes and probes.
  server.set_socket_options([](socket_t fd) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  server.set_read_timeout(kReadTimeoutSeconds, 0);
  server.set_write_timeout(kReadTimeoutSeconds, 0);
  // One request per connection: an idle keep-alive connection would hold a thread that a probe
  // then waits for.
  server.set_keep_alive_max_count(1);
  MetricsHttpServer* raw = self.get();
  server.Get("/metrics", [raw](const httplib::Request&, httplib::Response& res) {
    res.set_content(raw->handlers_.metrics(), kExpositionType);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server.Get("/readyz", [raw](const httplib::Request&, httplib::Response& res) {
    const Readiness r = raw->handlers_.readiness();
    res.status = r.ready ? 200 : 503;
    res.set_content(r.ready ? "ready\n" : absl::StrCat("not ready: ", r.reason, "\n"),
                    "text/plain; charset=utf-8");
  });
  errno = 0;
  if (address->port == 0) {
    self->port_ = server.bind_to_any_port(address->host);
  } else if (server.bind_to_port(address->host, address->port)) {
    self->port_ = address->port;
  }
  if (self->port_ <= 0) {
    const int error = errno;
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics and probes on ", listen, ": ",
                     error == EADDRINUSE ? "the port is in use (another controller?)"
                     : error != 0        ? std::strerror(error)
                                         : "the address cannot be bound",
                     "; set metrics_listen (--metrics-listen) to a free address, or \"off\""));
  }
  self->thread_ = std::thread([raw] {
    raw->server_->listen_after_bind();
    raw->listen_returned_ = true;
  });
  return self;
}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
}

void MetricsHttpServer::Stop() {
  if (!server_ || !thread_.joinable()) return;
  // httplib's stop() does nothing until listen_after_bind() is running, which would then accept
  // forever and the join below never return (a start-up failure right after Start() hung the
  // controller): wait for it to run, or to have returned.
  while (!server_->is_running() && !listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  thread_.join();
}

}  // namespace keyfleet::controller::metrics
