#include "controller/dashboard/dashboard_server.h"

#include <httplib.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/request_id.h"
#include "common/tls/https_server_context.h"
#include "controller/dashboard/assets.h"
#include "controller/dashboard/session.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet::controller::dashboard {
namespace {

constexpr http::ListenSetting kSetting = {
    "dashboard_listen", "127.0.0.1:9443, 0.0.0.0:9443, [::1]:9443", "for no dashboard"};
constexpr char kJson[] = "application/json; charset=utf-8";
constexpr absl::string_view kApiPrefix = "/api/v1";
// A browser sends its request at once. cpp-httplib 0.11 applies these to each read, not to
// the whole request, and caps neither a request's header count nor how long a connection may
// trickle bytes: a client that does so holds one of kDashboardThreads. The dashboard is off by
// default and meant for an operator network; exposed wider, it belongs behind a reverse proxy
// that bounds requests (README "The web dashboard").
constexpr time_t kReadTimeoutSeconds = 5;
constexpr time_t kWriteTimeoutSeconds = 30;
// Shorter than the rollout page's 1 s poll: an open tab does not keep a thread between polls.
constexpr time_t kKeepAliveSeconds = 1;
constexpr size_t kKeepAliveRequests = 20;
constexpr absl::Duration kStopWait = absl::Seconds(5);

// Whether `host` (a Host header) names this server by an IP address or as localhost: HSTS
// there would pin every other local HTTP server of the browser to HTTPS for a year.
bool LocalOrAddress(absl::string_view host) {
  if (absl::StartsWith(host, "[")) return true;  // an IPv6 literal
  host = host.substr(0, host.rfind(':'));
  if (host == "localhost" || absl::EndsWith(host, ".localhost")) return true;
  return !host.empty() && std::all_of(host.begin(), host.end(),
                                      [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
}

void SecurityHeaders(const httplib::Request& req, httplib::Response& res) {
  // Once: httplib also runs the error handler on answers the handlers made.
  if (res.has_header("Content-Security-Policy")) return;
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  if (!LocalOrAddress(req.get_header_value("Host"))) {
    res.set_header("Strict-Transport-Security", "max-age=31536000");
  }
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

void Answer(httplib::Response& res, const ApiResponse& answer) {
  res.status = answer.status;
  res.set_header("Cache-Control", "no-store");
  if (answer.status == 204) return;
  res.set_content(answer.json, kJson);
}

bool IsJson(const httplib::Request& req) {
  const std::string type = req.get_header_value("Content-Type");
  return type == "application/json" || absl::StartsWith(type, "application/json;");
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ParseDashboardListen(absl::string_view text) {
  return http::ParseOptionalListen(text, kSetting);
}

struct DashboardServer::State {
  explicit State(std::shared_ptr<grpc::Channel> channel) : api(std::move(channel)) {}
  AdminApi api;
  std::unique_ptr<httplib::SSLServer> server;
};

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(DashboardOptions options) {
  absl::StatusOr<http::ListenAddress> address = http::ParseListenAddress(options.listen, kSetting);
  if (!address.ok()) return address.status();
  auto state = std::make_shared<State>(std::move(options.channel));
  absl::Status tls = absl::OkStatus();
  state->server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    tls = tls::ConfigureHttpsServerContext(ctx, options.key_pem, options.chain_pem);
    return tls.ok();
  });
  if (!tls.ok()) return tls;
  if (!state->server->is_valid()) {
    return absl::InternalError("the dashboard's TLS context could not be made");
  }
  httplib::SSLServer& server = *state->server;
  server.new_task_queue = [] { return new httplib::ThreadPool(kDashboardThreads); };
  server.set_read_timeout(kReadTimeoutSeconds, 0);
  server.set_write_timeout(kWriteTimeoutSeconds, 0);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  server.set_keep_alive_max_count(kKeepAliveRequests);
  server.set_payload_max_length(kMaxRequestBodyBytes);
  Route(*state);
  absl::StatusOr<std::unique_ptr<http::HttpListener>> listener =
      http::HttpListener::Start(server, *address, "the dashboard", kSetting, state);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<DashboardServer> self(new DashboardServer(std::move(state)));
  self->listener_ = *std::move(listener);
  return self;
}

void DashboardServer::Route(State& state) {
  httplib::SSLServer& server = *state.server;
  const AdminApi& api = state.api;
  // An exception from a handler (out of memory) is a 500 saying nothing of itself.
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        SecurityHeaders(req, res);
        Answer(res, ApiError(500, "INTERNAL", "the dashboard could not answer this request"));
      });
  // Every answer, the errors httplib makes itself (an unknown method, a body too large) too.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    SecurityHeaders(req, res);
    if (res.body.empty()) {
      Answer(res, ApiError(res.status, "HTTP",
                           absl::StrCat("the request was refused (HTTP ", res.status, ")")));
    }
  });
  server.Get(R"(/(?!api/).*)", [](const httplib::Request& req, httplib::Response& res) {
    SecurityHeaders(req, res);
    const Asset* asset = FindAsset(req.path);
    if (asset == nullptr) {
      res.status = 404;
      res.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    // Revalidated on each load: a new controller version's page replaces the old at once.
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(asset->body), std::string(asset->content_type));
  });
  auto api_handler = [&api](const httplib::Request& req, httplib::Response& res) {
    SecurityHeaders(req, res);
    const bool post = req.method == "POST";
    if (post) {
      if (!SameOriginRequest(req.get_header_value("Origin"), req.get_header_value("Host"),
                             req.get_header_value("Sec-Fetch-Site"))) {
        return Answer(res, ApiError(403, "CSRF", "a cross-site request is refused"));
      }
      if (!IsJson(req)) {
        return Answer(res, ApiError(415, "UNSUPPORTED_MEDIA_TYPE",
                                    "send the request body as application/json"));
      }
    }
    absl::string_view path = req.path;
    if (path == "/api/v1/login") {
      if (!post) return Answer(res, ApiError(405, "METHOD_NOT_ALLOWED", "log in with POST"));
      nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
      const std::string token =
          body.is_object() && body.contains("token") && body["token"].is_string()
              ? body["token"].get<std::string>()
              : "";
      if (!LooksLikeApiToken(token)) {
        return Answer(res, ApiError(401, "UNAUTHENTICATED",
                                    "that is not a keyfleet API token (kfat_…, from `keyfleet "
                                    "token create`)"));
      }
      ApiResponse session = api.Session(token);
      if (session.status == 200) {
        res.set_header("Set-Cookie", SessionCookie(token));
      } else {
        spdlog::info("dashboard: login from {} refused: {}", req.remote_addr, session.json);
      }
      return Answer(res, session);
    }
    std::optional<std::string> token = SessionTokenFromCookies(req.get_header_value("Cookie"));
    if (!token) {
      return Answer(res, ApiError(401, "UNAUTHENTICATED", "not signed in: log in with a token"));
    }
    if (post && !CsrfTokenMatches(*token, req.get_header_value(kCsrfHeader))) {
      return Answer(res, ApiError(403, "CSRF",
                                  "the request lacks this session's X-CSRF-Token: reload the "
                                  "page"));
    }
    ApiResponse answer;
    if (path == "/api/v1/logout") {
      if (!post) return Answer(res, ApiError(405, "METHOD_NOT_ALLOWED", "log out with POST"));
      res.set_header("Set-Cookie", ClearedSessionCookie());
      return Answer(res, {204, ""});
    }
    if (path == "/api/v1/session") {
      answer = post ? ApiError(405, "METHOD_NOT_ALLOWED", "ask for the session with GET")
                    : api.Session(*token);
    } else if (!absl::StartsWith(path, absl::StrCat(kApiPrefix, "/"))) {
      answer = ApiError(404, "NOT_FOUND", "no such API route");
    } else {
      ApiRequest request;
      request.token = *token;
      for (const auto& [name, value] : req.params) request.params.emplace_back(name, value);
      request.body = req.body;
      if (post) {
        request.request_id = req.get_header_value("X-Request-Id");
        if (request.request_id.empty()) {
          absl::StatusOr<std::string> id = NewRequestId();
          if (!id.ok()) return Answer(res, ApiError(500, "INTERNAL", id.status().message()));
          request.request_id = *id;
        } else if (absl::Status s = ValidateRequestId(request.request_id); !s.ok()) {
          return Answer(res, ApiError(400, "INVALID_ARGUMENT", s.message()));
        }
      }
      answer = api.Handle(req.method, path.substr(kApiPrefix.size()), request);
    }
    // A token that no longer works (revoked, expired) ends the session.
    if (answer.status == 401) res.set_header("Set-Cookie", ClearedSessionCookie());
    // The controller audits the refusal; the browser's address is only known here.
    if (answer.status == 401 || answer.status == 403) {
      spdlog::info("dashboard: {} {} from {} refused ({})", req.method, req.path, req.remote_addr,
                   answer.status);
    }
    Answer(res, answer);
  };
  server.Get(R"(/api/.*)", api_handler);
  server.Post(R"(/api/.*)", api_handler);
}

DashboardServer::DashboardServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

int DashboardServer::port() const {
  return listener_ ? listener_->port() : 0;
}

DashboardServer::~DashboardServer() {
  Stop();
}

void DashboardServer::Stop() {
  state_->api.Stop();
  if (listener_) listener_->Stop(kStopWait);
}

}  // namespace keyfleet::controller::dashboard
