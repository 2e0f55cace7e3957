// The dashboard's JSON API (admin_api.h) over a fake AdminService on an in-process channel: how
// query parameters and bodies become requests, that the session's token is the call's bearer
// credential and a mutation's request id its idempotency key, and how gRPC errors become HTTP.
#include "controller/dashboard/admin_api.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/request_id.h"
#include "controller/dashboard/session.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller::dashboard {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "kfat_test";

class FakeAdmin final : public v1::AdminService::Service {
 public:
  grpc::Status FleetStatus(grpc::ServerContext* ctx, const v1::FleetStatusRequest* req,
                           v1::FleetStatusResponse* resp) override {
    Record(*ctx);
    resp->set_hosts(req->list_limit());
    return grpc::Status::OK;
  }
  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override {
    Record(*ctx);
    std::lock_guard<std::mutex> lock(mu);
    last_audit = *req;
    resp->add_events()->set_sequence(7);
    return grpc::Status::OK;
  }
  grpc::Status GetKey(grpc::ServerContext* ctx, const v1::GetKeyRequest* req,
                      v1::Key* resp) override {
    Record(*ctx);
    if (req->fingerprint() == "SHA256:denied") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "GetKey needs role admin");
    }
    if (req->fingerprint() == "SHA256:down") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the controller's database is unavailable");
    }
    resp->set_fingerprint(req->fingerprint());
    resp->set_comment("<script>alert(1)</script>");
    return grpc::Status::OK;
  }
  grpc::Status RevokeKey(grpc::ServerContext* ctx, const v1::RevokeKeyRequest* req,
                         v1::MutationResponse* resp) override {
    Record(*ctx);
    std::lock_guard<std::mutex> lock(mu);
    last_revoke = *req;
    resp->set_change(42);
    return grpc::Status::OK;
  }
  // As a long audit verification: until the caller goes (at most 20 s).
  grpc::Status VerifyAudit(grpc::ServerContext* ctx, const v1::VerifyAuditRequest*,
                           v1::VerifyAuditResponse*) override {
    verify_started = true;
    for (int i = 0; i < 2000 && !ctx->IsCancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away");
  }
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* resp) override {
    Record(*ctx);
    if (authorization != std::string("Bearer ") + kToken) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
    }
    resp->set_actor("token:ops");
    resp->mutable_credential()->set_role(v1::ROLE_OPERATOR);
    return grpc::Status::OK;
  }

  void Record(const grpc::ServerContext& ctx) {
    std::lock_guard<std::mutex> lock(mu);
    auto value = [&](const char* key) {
      auto it = ctx.client_metadata().find(key);
      return it == ctx.client_metadata().end() ? std::string()
                                               : std::string(it->second.data(), it->second.size());
    };
    authorization = value("authorization");
    request_id = value(kRequestIdMetadata);
  }

  std::mutex mu;
  std::atomic<bool> verify_started{false};
  std::string authorization, request_id;
  v1::ListAuditRequest last_audit;
  v1::RevokeKeyRequest last_revoke;
};

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    api_ = std::make_unique<AdminApi>(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(); }

  ApiResponse Get(absl::string_view path,
                  std::vector<std::pair<std::string, std::string>> params = {}) {
    ApiRequest request;
    request.token = kToken;
    request.params = std::move(params);
    return api_->Handle("GET", path, request);
  }
  static nlohmann::json Json(const ApiResponse& r) { return nlohmann::json::parse(r.json); }

  FakeAdmin fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(AdminApiTest, QueryParametersAreTheRequestFieldsAndTheTokenIsTheCredential) {
  ApiResponse r = Get("/fleet", {{"list_limit", "5"}});
  ASSERT_EQ(r.status, 200) << r.json;
  EXPECT_EQ(Json(r)["hosts"], 5);
  // Every primitive field is present, by its proto name, as `keyfleet -o json` prints it.
  EXPECT_EQ(Json(r)["lists_truncated"], false);
  EXPECT_EQ(fake_.authorization, std::string("Bearer ") + kToken);

  r = Get("/audit", {{"newest_first", "true"},
                     {"since", "2026-01-02T03:04:05Z"},
                     {"page_size", "200"},
                     {"page_token", "b9"}});
  ASSERT_EQ(r.status, 200) << r.json;
  EXPECT_TRUE(fake_.last_audit.newest_first());
  EXPECT_EQ(fake_.last_audit.since().seconds(), 1767323045);
  EXPECT_EQ(fake_.last_audit.page_size(), 200u);
  EXPECT_EQ(fake_.last_audit.page_token(), "b9");
  EXPECT_EQ(Json(r)["events"][0]["sequence"], "7");  // 64-bit numbers as strings
}

TEST_F(AdminApiTest, BadParametersAre400SayingWhatIsAllowed) {
  struct Case {
    const char* path;
    std::vector<std::pair<std::string, std::string>> params;
    const char* says;
  };
  const Case cases[] = {
      {"/fleet", {{"limit", "5"}}, "this page takes list_limit"},
      {"/fleet", {{"list_limit", "5"}, {"list_limit", "6"}}, "given twice"},
      {"/fleet", {{"list_limit", "five"}}, "bad parameters"},
      {"/fleet", {{"list_limit", "-1"}}, "bad parameters"},
      {"/fleet", {{"list_limit", "99999999999"}}, "bad parameters"},
      {"/audit", {{"newest_first", "yes"}}, "true or false"},
      {"/audit", {{"since", "yesterday"}}, "bad parameters"},
      {"/key", {{"fingerprint", "SHA256:x"}, {"x", "1"}}, "unknown parameter \"x\""},
  };
  for (const Case& c : cases) {
    ApiResponse r = Get(c.path, c.params);
    EXPECT_EQ(r.status, 400) << c.path << " " << r.json;
    EXPECT_EQ(Json(r)["code"], "INVALID_ARGUMENT") << r.json;
    EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr(c.says)) << r.json;
  }
}

TEST_F(AdminApiTest, GrpcErrorsBecomeHttpStatuses) {
  ApiResponse r = Get("/key", {{"fingerprint", "SHA256:denied"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Json(r)["code"], "PERMISSION_DENIED");
  EXPECT_EQ(Json(r)["error"], "GetKey needs role admin");
  r = Get("/key", {{"fingerprint", "SHA256:down"}});
  EXPECT_EQ(r.status, 503);
  r = Get("/policy");  // the fake does not implement it
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Json(r)["code"], "UNIMPLEMENTED");
  r = Get("/nothing");
  EXPECT_EQ(r.status, 404);
  ApiRequest request;
  request.token = kToken;
  r = api_->Handle("POST", "/fleet", request);
  EXPECT_EQ(r.status, 405);
  r = api_->Handle("GET", "/keys/revoke", request);
  EXPECT_EQ(r.status, 405);
}

TEST_F(AdminApiTest, DataIsJsonNeverMarkup) {
  ApiResponse r = Get("/key", {{"fingerprint", "SHA256:abc"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Json(r)["comment"], "<script>alert(1)</script>");  // the page shows it as text
}

TEST_F(AdminApiTest, MutationsTakeAJsonBodyAndTheRequestId) {
  ApiRequest request;
  request.token = kToken;
  request.request_id = "0123456789abcdef";
  request.body = R"({"fingerprint": "SHA256:abc", "reason": "laptop stolen"})";
  ApiResponse r = api_->Handle("POST", "/keys/revoke", request);
  ASSERT_EQ(r.status, 200) << r.json;
  EXPECT_EQ(Json(r)["change"], "42");
  EXPECT_EQ(fake_.last_revoke.reason(), "laptop stolen");
  EXPECT_EQ(fake_.request_id, "0123456789abcdef");

  for (const char* body :
       {"", "[]", "{\"fingerprint\": 1}", "{\"fingerprint\": \"a\", \"x\": 1}"}) {
    request.body = body;
    r = api_->Handle("POST", "/keys/revoke", request);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr("RevokeKeyRequest")) << body;
  }
}

TEST_F(AdminApiTest, SessionIsWhoAmIWithTheCsrfToken) {
  ApiResponse r = api_->Session(kToken);
  ASSERT_EQ(r.status, 200) << r.json;
  EXPECT_EQ(Json(r)["actor"], "token:ops");
  EXPECT_EQ(Json(r)["credential"]["role"], "ROLE_OPERATOR");
  EXPECT_EQ(Json(r)["csrf_token"], CsrfTokenFor(kToken));
  EXPECT_THAT(r.json, ::testing::Not(HasSubstr(kToken)));
  r = api_->Session("kfat_other");
  EXPECT_EQ(r.status, 401);
}

// Stopping cancels the calls in progress (a long verification would hold the controller's
// shutdown) and refuses later ones.
TEST_F(AdminApiTest, StopCancelsTheCallsInProgress) {
  ApiResponse verify;
  std::thread caller([&] { verify = Get("/audit/verify"); });
  for (int i = 0; i < 500 && !fake_.verify_started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fake_.verify_started);
  const auto start = std::chrono::steady_clock::now();
  api_->Stop();
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(Json(verify)["code"], "CANCELLED") << verify.json;
  ApiResponse later = Get("/fleet");
  EXPECT_EQ(later.status, 503);
  EXPECT_THAT(Json(later)["error"].get<std::string>(), HasSubstr("stopping"));
}

TEST(AdminApiRoutes, EveryRouteIsAnAdminRpc) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::AdminService::service_full_name());
  ASSERT_NE(service, nullptr);
  for (const AdminApi::RouteInfo& route : AdminApi::Routes()) {
    EXPECT_NE(service->FindMethodByName(std::string(route.rpc)), nullptr) << route.rpc;
    EXPECT_TRUE(route.method == "GET" || route.method == "POST") << route.path;
  }
}

}  // namespace
}  // namespace keyfleet::controller::dashboard
