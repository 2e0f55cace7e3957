#include "controller/dashboard/dashboard_server.h"

#include <httplib.h>

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
// A browser sends its request at once; a connection that does not holds a thread no longer.
constexpr time_t kReadTimeoutSeconds = 10;
constexpr time_t kWriteTimeoutSeconds = 30;
constexpr time_t kKeepAliveSeconds = 2;

void SecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Strict-Transport-Security", "max-age=31536000");
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
  if (text.empty() || text == "off") return std::optional<std::string>();
  absl::StatusOr<http::ListenAddress> address = http::ParseListenAddress(text, kSetting);
  if (!address.ok()) return address.status();
  return std::optional<std::string>(std::string(text));
}

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(DashboardOptions options) {
  absl::StatusOr<http::ListenAddress> address = http::ParseListenAddress(options.listen, kSetting);
  if (!address.ok()) return address.status();
  std::unique_ptr<DashboardServer> self(new DashboardServer(std::move(options.channel)));
  absl::Status tls = absl::OkStatus();
  self->server_ = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    tls = tls::ConfigureHttpsServerContext(ctx, options.key_pem, options.chain_pem);
    return tls.ok();
  });
  if (!tls.ok()) return tls;
  if (!self->server_->is_valid()) {
    return absl::InternalError("the dashboard's TLS context could not be made");
  }
  httplib::SSLServer& server = *self->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(kDashboardThreads); };
  server.set_read_timeout(kReadTimeoutSeconds, 0);
  server.set_write_timeout(kWriteTimeoutSeconds, 0);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  server.set_payload_max_length(kMaxRequestBodyBytes);
  self->Route();
  absl::StatusOr<std::unique_ptr<http::HttpListener>> listener =
      http::HttpListener::Start(server, *address, "the dashboard", kSetting);
  if (!listener.ok()) return listener.status();
  self->listener_ = *std::move(listener);
  return self;
}

void DashboardServer::Route() {
  httplib::SSLServer& server = *server_;
  const AdminApi& api = api_;
  // Every answer, the errors httplib makes itself (an unknown method, a body too large) too.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    SecurityHeaders(res);
    if (res.body.empty()) {
      Answer(res, ApiError(res.status, "HTTP",
                           absl::StrCat("the request was refused (HTTP ", res.status, ")")));
    }
  });
  server.Get(R"(/(?!api/).*)", [](const httplib::Request& req, httplib::Response& res) {
    SecurityHeaders(res);
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
    SecurityHeaders(res);
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
    Answer(res, answer);
  };
  server.Get(R"(/api/.*)", api_handler);
  server.Post(R"(/api/.*)", api_handler);
}

DashboardServer::DashboardServer(std::shared_ptr<grpc::Channel> channel)
    : api_(std::move(channel)) {}

int DashboardServer::port() const {
  return listener_ ? listener_->port() : 0;
}

DashboardServer::~DashboardServer() {
  Stop();
}

void DashboardServer::Stop() {
  if (listener_) listener_->Stop();
}

}  // namespace keyfleet::controller::dashboard
