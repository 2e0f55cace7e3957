// The dashboard's JSON API under /api/v1/: each route is one AdminService RPC, called through
// the controller's in-process channel with the session's token as its bearer credential. So a
// dashboard request is authenticated, authorized (the one role table, admin_auth.h), checked
// against the field limits, audited and counted exactly as the same call from the CLI, and
// answers what `keyfleet -o json` prints: the protobuf JSON mapping with proto field names and
// every primitive field.
//
// GET routes take the request message's fields as query parameters (by proto name; numbers,
// booleans, enum names, RFC 3339 times, "90s" durations); an unknown or repeated parameter is
// 400. POST routes take the request message as a JSON body. Errors are
// {"code": "PERMISSION_DENIED", "error": "…"} with the matching HTTP status.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::controller::dashboard {

struct ApiRequest {
  std::vector<std::pair<std::string, std::string>> params;  // GET: decoded query parameters
  std::string body;                                         // POST: the JSON request message
  std::string token;                                        // the caller's API token
  std::string request_id;  // POST: the mutation's idempotency key (common/request_id.h)
};

struct ApiResponse {
  int status = 200;
  std::string json;
};

// {"code": CODE, "error": MESSAGE} with `status`.
ApiResponse ApiError(int status, absl::string_view code, absl::string_view message);

// The RPCs in progress, so that stopping cancels them (a long audit verification would hold the
// controller's shutdown) and refuses new ones.
class InflightCalls {
 public:
  bool Add(grpc::ClientContext* ctx);  // false once stopping
  void Remove(grpc::ClientContext* ctx);
  void CancelAll();

 private:
  std::mutex mu_;
  bool stopping_ = false;
  std::set<grpc::ClientContext*> calls_;
};

class AdminApi {
 public:
  explicit AdminApi(std::shared_ptr<grpc::Channel> channel);

  // The route for `method` and `path` under /api/v1/; 404 for no such route, 405 for a route
  // asked with the other method.
  ApiResponse Handle(absl::string_view method, absl::string_view path,
                     const ApiRequest& request) const;

  // WhoAmI for `token`, with "csrf_token" added (session.h): the session object.
  ApiResponse Session(const std::string& token) const;

  // The routes, for --help and tests: (method, path, RPC).
  struct RouteInfo {
    absl::string_view method, path, rpc;
  };
  static std::vector<RouteInfo> Routes();

  // Cancels the calls in progress and answers 503 to any later one.
  void Stop() { calls_.CancelAll(); }

 private:
  std::unique_ptr<v1::AdminService::Stub> stub_;
  mutable InflightCalls calls_;
};

}  // namespace keyfleet::controller::dashboard
