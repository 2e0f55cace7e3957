// The field limits at the services' edge, through gRPC, over a real PostgreSQL (label postgres):
// each service refuses a request over a limit before anything else reads it.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "controller/controller_server.h"
#include "controller/service/field_limits.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "tests/support/admin_token.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class FieldLimitsServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { postgres_ = new testing::TempPostgres(); }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    ControllerConfig config;
    config.database = postgres_->Url(postgres_->CreateDatabase());
    config.listen = "127.0.0.1:0";
    config.insecure_dev = true;  // in-process channels carry no TLS
    config.bootstrap_token_file = dir_.path().string() + "/bootstrap.token";
    controller_ = std::make_unique<ControllerServer>(config, clock_);
    absl::Status started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<std::string> token = testing::ReadTokenFile(config.bootstrap_token_file);
    ASSERT_TRUE(token.ok()) << token.status();
    admin_ = v1::AdminService::NewStub(
        controller_->InProcessChannel(testing::TokenInterceptors(*token)));
  }

  // What a Watch stream that sends `messages` ends with.
  grpc::Status WatchEndsWith(const std::vector<v1::AgentMessage>& messages) {
    auto stub = v1::AgentService::NewStub(controller_->InProcessChannel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Watch(&ctx);
    for (const v1::AgentMessage& m : messages) stream->Write(m);
    v1::WatchResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  static testing::TempPostgres* postgres_;
  testing::ScopedTempDir dir_{"field-limits-service-test"};
  SystemClock clock_;
  std::unique_ptr<ControllerServer> controller_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

testing::TempPostgres* FieldLimitsServiceTest::postgres_ = nullptr;

TEST_F(FieldLimitsServiceTest, AdminRequestsOverALimitAreRefusedBeforeAuthentication) {
  // No credentials: the request is refused for its size, never read by the authorizer.
  auto anonymous = v1::AdminService::NewStub(controller_->InProcessChannel());
  grpc::ClientContext ctx;
  v1::AddPrincipalRequest req;
  req.set_name(std::string(kMaxPrincipalNameBytes + 1, 'Q'));
  v1::MutationResponse resp;
  grpc::Status s = anonymous->AddPrincipal(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "name is 65 bytes; the limit is 64 bytes");

  // Within the limits, the same caller is unauthenticated.
  grpc::ClientContext again;
  req.set_name("alice");
  EXPECT_EQ(anonymous->AddPrincipal(&again, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(FieldLimitsServiceTest, AdminFieldsNoHandlerCheckedAreCheckedAtTheEdge) {
  grpc::ClientContext ctx;
  v1::ListKeysRequest req;
  req.set_state(static_cast<v1::KeyState>(99));  // was read as "no filter"
  v1::ListKeysResponse resp;
  grpc::Status s = admin_->ListKeys(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("state is 99; allowed: 0 to 4"));

  grpc::ClientContext who_ctx;  // a request with no fields passes the check
  v1::WhoAmIResponse who;
  EXPECT_TRUE(admin_->WhoAmI(&who_ctx, v1::WhoAmIRequest(), &who).ok());
}

TEST_F(FieldLimitsServiceTest, AWatchHelloOverALimitEndsTheStream) {
  v1::AgentMessage hello;
  hello.mutable_hello()->set_hostname("web-1");
  for (int i = 0; i <= static_cast<int>(kMaxLabels); ++i) {
    (*hello.mutable_hello()->mutable_labels())[absl::StrCat("k", i)] = "v";
  }
  grpc::Status s = WatchEndsWith({hello});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "hello.labels has 33 entries; the limit is 32");
}

TEST_F(FieldLimitsServiceTest, AWatchReportOverALimitEndsTheStream) {
  v1::AgentMessage hello;
  hello.mutable_hello()->set_hostname("web-1");
  v1::AgentMessage report;
  report.mutable_report()->set_applied_generation(UINT64_MAX);
  grpc::Status s = WatchEndsWith({hello, report});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("report.applied_generation is 18446744073709551615"));
}

TEST_F(FieldLimitsServiceTest, RenewAndEnrollOverALimitAreRefusedFirst) {
  auto agent = v1::AgentService::NewStub(controller_->InProcessChannel());
  grpc::ClientContext renew_ctx;
  v1::RenewRequest renew;
  renew.set_csr_pem(std::string(kMaxCsrPemBytes + 1, 'Q'));
  v1::RenewResponse renewed;
  grpc::Status s = agent->Renew(&renew_ctx, renew, &renewed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // not --insecure-dev's refusal
  EXPECT_EQ(s.error_message(), "csr_pem is 16385 bytes; the limit is 16384 bytes");

  auto enrollment = v1::EnrollmentService::NewStub(controller_->InProcessChannel());
  grpc::ClientContext enroll_ctx;
  v1::EnrollRequest enroll;
  enroll.set_token(std::string(kMaxTokenTextBytes + 1, 'Q'));
  v1::EnrollResponse enrolled;
  s = enrollment->Enroll(&enroll_ctx, enroll, &enrolled);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), Not(HasSubstr("QQ")));
}

}  // namespace
}  // namespace keyfleet::controller
