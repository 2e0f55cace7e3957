#include "controller/dashboard/admin_api.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_code_name.h"
#include "common/request_id.h"
#include "controller/dashboard/query_message.h"
#include "controller/dashboard/session.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller::dashboard {
namespace {

namespace pb = google::protobuf;

// Every read answers within this (the database is asked with the caller's deadline, so an
// outage gives 503 rather than a hung page); verifying a large audit log takes longer.
constexpr int kReadSeconds = 30;
constexpr int kVerifySeconds = 30 * 60;

std::string ToJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)pb::util::MessageToJsonString(message, &out, options);
  return out;
}

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

ApiResponse FromGrpc(const grpc::Status& status) {
  return ApiError(HttpStatusOf(status.error_code()), GrpcCodeName(status.error_code()),
                  status.error_message());
}

absl::Status MessageFromBody(const ApiRequest& request, pb::Message* message) {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = pb::util::JsonStringToMessage(request.body, message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a ", message->GetDescriptor()->name(),
                     " in JSON: ", std::string(parsed.message()).substr(0, 200)));
  }
  return absl::OkStatus();
}

using Stub = v1::AdminService::Stub;

struct Route {
  const char* method;
  const char* path;  // after /api/v1
  const char* rpc;
  ApiResponse (*call)(Stub& stub, InflightCalls& calls, const ApiRequest& request);
};

// One RPC through the stub: the request from the query (GET) or the body (POST), the token as
// its bearer credential, a mutation's request id, and a deadline.
template <class Request, class Response,
          grpc::Status (Stub::*Method)(grpc::ClientContext*, const Request&, Response*),
          bool kPost = false, int kDeadlineSeconds = kReadSeconds>
ApiResponse Call(Stub& stub, InflightCalls& calls, const ApiRequest& request) {
  Request message;
  absl::Status parsed =
      kPost ? MessageFromBody(request, &message) : MessageFromQuery(request.params, &message);
  if (!parsed.ok()) return ApiError(400, "INVALID_ARGUMENT", parsed.message());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", request.token));
  if (kPost && !request.request_id.empty()) {
    ctx.AddMetadata(kRequestIdMetadata, request.request_id);
  }
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kDeadlineSeconds));
  if (!calls.Add(&ctx)) return ApiError(503, "UNAVAILABLE", "the controller is stopping");
  Response response;
  grpc::Status status = (stub.*Method)(&ctx, message, &response);
  calls.Remove(&ctx);
  if (!status.ok()) return FromGrpc(status);
  return {200, ToJson(response)};
}

// clang-format off
const Route kRoutes[] = {
    {"GET", "/fleet", "FleetStatus",
     &Call<v1::FleetStatusRequest, v1::FleetStatusResponse, &Stub::FleetStatus>},
    {"GET", "/hosts", "ListHosts",
     &Call<v1::ListHostsRequest, v1::ListHostsResponse, &Stub::ListHosts>},
    {"GET", "/host", "GetHost", &Call<v1::GetHostRequest, v1::Host, &Stub::GetHost>},
    {"GET", "/compliance", "ComplianceReport",
     &Call<v1::ComplianceReportRequest, v1::ComplianceReportResponse, &Stub::ComplianceReport>},
    {"GET", "/rotation", "RotationReport",
     &Call<v1::RotationReportRequest, v1::RotationReportResponse, &Stub::RotationReport>},
    {"GET", "/policy", "GetPolicy", &Call<v1::GetPolicyRequest, v1::Policy, &Stub::GetPolicy>},
    {"GET", "/keys", "ListKeys", &Call<v1::ListKeysRequest, v1::ListKeysResponse, &Stub::ListKeys>},
    {"GET", "/key", "GetKey", &Call<v1::GetKeyRequest, v1::Key, &Stub::GetKey>},
    {"GET", "/principals", "ListPrincipals",
     &Call<v1::ListPrincipalsRequest, v1::ListPrincipalsResponse, &Stub::ListPrincipals>},
    {"GET", "/grants", "ListGrants",
     &Call<v1::ListGrantsRequest, v1::ListGrantsResponse, &Stub::ListGrants>},
    {"GET", "/reach", "KeyReach",
     &Call<v1::KeyReachRequest, v1::KeyReachResponse, &Stub::KeyReach>},
    {"GET", "/rollout", "RolloutStatus",
     &Call<v1::RolloutStatusRequest, v1::RolloutStatusResponse, &Stub::RolloutStatus>},
    {"GET", "/access", "AccessReview",
     &Call<v1::AccessReviewRequest, v1::AccessReviewResponse, &Stub::AccessReview>},
    {"GET", "/verify-access", "VerifyAccess",
     &Call<v1::VerifyAccessRequest, v1::VerifyAccessResponse, &Stub::VerifyAccess>},
    {"GET", "/audit", "ListAudit",
     &Call<v1::ListAuditRequest, v1::ListAuditResponse, &Stub::ListAudit>},
    {"GET", "/audit/verify", "VerifyAudit",
     &Call<v1::VerifyAuditRequest, v1::VerifyAuditResponse, &Stub::VerifyAudit, false,
           kVerifySeconds>},
    {"POST", "/keys/revoke", "RevokeKey",
     &Call<v1::RevokeKeyRequest, v1::MutationResponse, &Stub::RevokeKey, true>},
};
// clang-format on

}  // namespace

ApiResponse ApiError(int status, absl::string_view code, absl::string_view message) {
  nlohmann::json body = {{"code", std::string(code)}, {"error", std::string(message)}};
  // Errors echo no more than the controller's own messages do; invalid UTF-8 is replaced.
  return {status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

AdminApi::AdminApi(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::AdminService::NewStub(std::move(channel))) {}

ApiResponse AdminApi::Handle(absl::string_view method, absl::string_view path,
                             const ApiRequest& request) const {
  bool other_method = false;
  for (const Route& route : kRoutes) {
    if (path != route.path) continue;
    if (method != route.method) {
      other_method = true;
      continue;
    }
    return route.call(*stub_, calls_, request);
  }
  if (other_method) {
    return ApiError(405, "METHOD_NOT_ALLOWED", absl::StrCat(path, " takes another method"));
  }
  return ApiError(404, "NOT_FOUND", "no such API route");
}

ApiResponse AdminApi::Session(const std::string& token) const {
  ApiRequest request;
  request.token = token;
  ApiResponse who =
      Call<v1::WhoAmIRequest, v1::WhoAmIResponse, &Stub::WhoAmI>(*stub_, calls_, request);
  if (who.status != 200) return who;
  nlohmann::json session = nlohmann::json::parse(who.json, nullptr, false);
  if (!session.is_object()) return ApiError(500, "INTERNAL", "WhoAmI answered no JSON object");
  session["csrf_token"] = CsrfTokenFor(token);
  return {200, session.dump()};
}

bool InflightCalls::Add(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  calls_.insert(ctx);
  return true;
}

void InflightCalls::Remove(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.erase(ctx);
}

void InflightCalls::CancelAll() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
}

std::vector<AdminApi::RouteInfo> AdminApi::Routes() {
  std::vector<RouteInfo> out;
  for (const Route& r : kRoutes) out.push_back({r.method, r.path, r.rpc});
  return out;
}

}  // namespace keyfleet::controller::dashboard
