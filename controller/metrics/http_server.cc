#include "controller/metrics/http_server.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "controller/http/http_listener.h"

namespace keyfleet::controller::metrics {
namespace {

// How long a connection may take to send its request: a client that sends nothing holds one of
// the kHttpThreads no longer than this (probes time out after a second by default).
constexpr time_t kReadTimeoutSeconds = 2;
constexpr char kExpositionType[] = "text/plain; version=0.0.4; charset=utf-8";

constexpr http::ListenSetting kSetting = {
    "metrics_listen", "127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464", "to serve no metrics"};

}  // namespace

absl::StatusOr<std::optional<std::string>> ParseMetricsListen(absl::string_view text) {
  return http::ParseOptionalListen(text, kSetting);
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, HttpHandlers handlers) {
  absl::StatusOr<http::ListenAddress> address = http::ParseListenAddress(listen, kSetting);
  if (!address.ok()) return address.status();
  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer());
  self->handlers_ = std::move(handlers);
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *self->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
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
  absl::StatusOr<std::unique_ptr<http::HttpListener>> listener =
      http::HttpListener::Start(server, *address, "metrics and probes", kSetting);
  if (!listener.ok()) return listener.status();
  self->listener_ = *std::move(listener);
  return self;
}

int MetricsHttpServer::port() const {
  return listener_ ? listener_->port() : 0;
}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
}

void MetricsHttpServer::Stop() {
  if (listener_) listener_->Stop();
}

}  // namespace keyfleet::controller::metrics
