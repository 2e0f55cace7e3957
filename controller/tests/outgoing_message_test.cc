// Messages serialized for raw Watch writes read back the same, from gRPC's slices (small) and
// from their own mapping (large), and a large one's mapping goes with its last reference.
#include "controller/service/outgoing_message.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <gtest/gtest.h>

#include <string>

#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {
namespace {

v1::WatchResponse StateWithKeys(int keys) {
  v1::WatchResponse message;
  v1::DesiredState* state = message.mutable_desired_state();
  state->set_generation(42);
  state->set_digest(std::string(64, 'd'));
  v1::AccountKeys* account = state->add_accounts();
  account->set_account("deploy");
  for (int i = 0; i < keys; ++i) {
    account->add_keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + std::to_string(i) + " owner");
  }
  return message;
}

void ExpectRoundTrip(const v1::WatchResponse& message) {
  grpc::ByteBuffer buffer = SerializeOutgoing(message);
  EXPECT_EQ(buffer.Length(), message.ByteSizeLong());
  grpc::ByteBuffer copy = buffer;  // gRPC holds references like this one
  buffer.Clear();
  v1::WatchResponse parsed;
  ASSERT_TRUE(grpc::SerializationTraits<v1::WatchResponse>::Deserialize(&copy, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), message.SerializeAsString());
}

TEST(SerializeOutgoing, SmallMessagesUseGrpcSlices) {
  v1::WatchResponse heartbeat;
  heartbeat.mutable_heartbeat()->set_current_generation(7);
  ExpectRoundTrip(heartbeat);
  const v1::WatchResponse small = StateWithKeys(10);
  ASSERT_LT(small.ByteSizeLong(), kOwnMappingMinBytes);
  ExpectRoundTrip(small);
}

TEST(SerializeOutgoing, LargeMessagesUseTheirOwnMapping) {
  for (int keys : {700, 5000, 40000}) {  // just past the threshold, and well past it
    const v1::WatchResponse large = StateWithKeys(keys);
    ASSERT_GE(large.ByteSizeLong(), kOwnMappingMinBytes);
    ExpectRoundTrip(large);
  }
}

}  // namespace
}  // namespace keyfleet::controller
