// The controller's web dashboard (dashboard_listen): HTTPS with the controller's own server
// certificate, the embedded page (assets.h), and the JSON API (admin_api.h) behind a token
// session (session.h).
//
//   GET  /, /app.js, /app.css   the page; no credentials needed to load it
//   POST /api/v1/login          {"token": "kfat_…"}: sets the session cookie, answers the session
//   GET  /api/v1/session        the session: WhoAmI and the CSRF token
//   POST /api/v1/logout         removes the cookie
//   *    /api/v1/…              admin_api.h, as the cookie's token
//
// Every answer carries a strict Content-Security-Policy (the page's own script and style only;
// no inline code, no other origin), nosniff, no framing, no referrer, and HSTS; API answers are
// never cached. Every POST must be JSON from this origin (Origin and Sec-Fetch-Site, when the
// browser sends them) and, but for the login, carry the session's X-CSRF-Token. Nothing here
// touches the database or checks a role: the RPC behind each route does, in one place.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/dashboard/admin_api.h"
#include "controller/http/http_listener.h"

namespace httplib {
class SSLServer;
}

namespace keyfleet::controller::dashboard {

inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
// Requests served at once; more wait for a thread. Each connection holds one while it sends
// its request (see dashboard_server.cc on slow clients).
inline constexpr size_t kDashboardThreads = 16;
// A POST body larger than this is refused (a revocation is a few hundred bytes).
inline constexpr size_t kMaxRequestBodyBytes = 64 * 1024;

struct DashboardOptions {
  std::string listen;   // as ParseDashboardListen accepts it
  std::string key_pem;  // the controller's TLS server key and chain (leaf first)
  std::string chain_pem;
  std::shared_ptr<grpc::Channel> channel;  // to this controller's own AdminService
};

// "" and "off": no dashboard (nullopt). Otherwise HOST:PORT as metrics_listen takes it.
absl::StatusOr<std::optional<std::string>> ParseDashboardListen(absl::string_view text);

class DashboardServer {
 public:
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(DashboardOptions options);
  ~DashboardServer();  // Stop()
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const;
  // Cancels the API calls in progress, stops accepting, and waits up to kStopWait for the
  // requests in progress; a client still holding a connection then is left behind (the
  // serving thread keeps what it needs). Idempotent.
  void Stop();

 private:
  struct State;
  explicit DashboardServer(std::shared_ptr<State> state);
  static void Route(State& state);  // installs the handlers on state.server

  std::shared_ptr<State> state_;  // shared with the serving thread
  std::unique_ptr<http::HttpListener> listener_;
};

}  // namespace keyfleet::controller::dashboard
