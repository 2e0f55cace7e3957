// The desired-state size limit on the agent's side (common/delivery_limits.h): the agent's
// channel takes a state of exactly kMaxDesiredStateBytes and refuses one byte more. The
// controller refuses any change that would make a bigger one (controller handlers tests).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/delivery_limits.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "node-agent/watch_client.h"

namespace keyfleet::agent {
namespace {

// A WatchResponse whose serialized size is exactly `bytes`.
v1::WatchResponse StateOfSize(size_t bytes) {
  v1::WatchResponse resp;
  v1::AccountKeys* account = resp.mutable_desired_state()->add_accounts();
  account->set_account("deploy");
  account->add_keys("");
  for (int i = 0; i < 8 && resp.ByteSizeLong() != bytes; ++i) {
    const size_t now = resp.ByteSizeLong();
    std::string& key = *account->mutable_keys(0);
    key.resize(key.size() + bytes - now);  // length prefixes may grow: settle in a few steps
  }
  return resp;
}

// Sends one prepared message to whoever watches, then waits for the client to go.
class OneStateService final : public v1::AgentService::Service {
 public:
  explicit OneStateService(v1::WatchResponse resp) : resp_(std::move(resp)) {}
  grpc::Status Watch(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::WatchResponse, v1::AgentMessage>* stream) override {
    stream->Write(resp_);
    v1::AgentMessage ignored;
    while (stream->Read(&ignored)) {
    }
    return grpc::Status::OK;
  }

 private:
  v1::WatchResponse resp_;
};

grpc::Status ReceiveOne(size_t bytes) {
  OneStateService service(StateOfSize(bytes));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  EXPECT_NE(port, 0);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                           grpc::InsecureChannelCredentials(),
                                           WatchClient::ChannelArguments());
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->Watch(&ctx);
  v1::WatchResponse got;
  const bool read = stream->Read(&got);
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (read) {
    EXPECT_EQ(got.ByteSizeLong(), bytes);
    return grpc::Status::OK;
  }
  return status;
}

TEST(AgentReceiveLimit, AStateOfExactlyTheLimitIsReceivedAndOneByteMoreIsNot) {
  ASSERT_EQ(StateOfSize(kMaxDesiredStateBytes).ByteSizeLong(), kMaxDesiredStateBytes);
  ASSERT_EQ(StateOfSize(kMaxDesiredStateBytes + 1).ByteSizeLong(), kMaxDesiredStateBytes + 1);
  EXPECT_TRUE(ReceiveOne(kMaxDesiredStateBytes).ok());
  grpc::Status past = ReceiveOne(kMaxDesiredStateBytes + 1);
  EXPECT_EQ(past.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << past.error_message();
}

}  // namespace
}  // namespace keyfleet::agent
