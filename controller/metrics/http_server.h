// The controller's plaintext HTTP port for Prometheus and probes (metrics_listen):
//   GET /metrics  the Prometheus text exposition (format 0.0.4);
//   GET /healthz  200 "ok" while the process serves;
//   GET /readyz   200 "ready" while the replica is ready, else 503 with one line saying why.
// HEAD answers as GET without the body; anything else is 404.
//
// Served by cpp-httplib (prometheus-cpp's own Exposer serves only collectables, never a 503)
// on a few threads of its own (controller/http/http_listener.h); a request holds one for at most
// kReadTimeout while it is read. Every answer comes from memory: nothing here touches the database.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/http/http_listener.h"

namespace httplib {
class Server;
}

namespace keyfleet::controller::metrics {

inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9464";
inline constexpr size_t kHttpThreads = 4;

// Whether the replica can serve, and if not why (one line, never the database's address).
struct Readiness {
  bool ready = false;
  std::string reason;
};

struct HttpHandlers {
  std::function<std::string()> metrics;  // the exposition text
  std::function<Readiness()> readiness;
};

// "" and "off" disable the port (nullopt). Otherwise HOST:PORT or [IPV6]:PORT, HOST an IPv4
// address or a host name, PORT 0..65535 (0: any free port); INVALID_ARGUMENT saying what is
// wrong and what to write.
absl::StatusOr<std::optional<std::string>> ParseMetricsListen(absl::string_view text);

class MetricsHttpServer {
 public:
  // Binds `listen` (as ParseMetricsListen accepts it; never SO_REUSEPORT: a port another process
  // serves is UNAVAILABLE, not silently shared) and serves on its own threads.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                                  HttpHandlers handlers);
  ~MetricsHttpServer();  // Stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const;
  // Stops accepting and waits for the threads. Idempotent.
  void Stop();

 private:
  MetricsHttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  HttpHandlers handlers_;
  std::unique_ptr<http::HttpListener> listener_;  // after server_: stopped first
};

}  // namespace keyfleet::controller::metrics
