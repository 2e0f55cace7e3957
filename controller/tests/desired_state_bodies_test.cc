// Desired states serialized once and shared between hosts: each host's message parses to
// exactly what it would have been sent built on its own, the body is shared (same bytes in
// memory) by hosts with the same state and never by hosts with different ones, and the cache
// stays bounded.
#include "controller/service/desired_state_bodies.h"

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "controller/service/proto_convert.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {
namespace {

HostDesiredState State(const std::string& hostname, int keys, const std::string& digest,
                       RevocationListPtr revocations = nullptr) {
  HostDesiredState s;
  s.hostname = hostname;
  s.epoch = "epoch-1";
  s.generation = 42;
  s.unmanaged = UnmanagedKeysMode::kRemove;
  s.digest = digest;
  s.revocations = std::move(revocations);
  AccountDesiredState account;
  account.account = "deploy";
  for (int i = 0; i < keys; ++i) {
    account.lines.push_back(
        MakeManagedLine("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + std::to_string(i) + " owner"));
  }
  s.accounts.push_back(std::move(account));
  s.accounts.push_back(AccountDesiredState{"empty", {}});
  return s;
}

RevocationListPtr Revocations(uint64_t total, const std::string& recent) {
  auto list = std::make_shared<RevocationList>();
  list->total = total;
  list->recent_sha256.push_back(std::string(32, recent[0]));
  list->recent_kill_sha256.push_back(std::string(32, recent[0]));
  return list;
}

// What the controller sent before bodies were shared.
v1::WatchResponse Expected(const HostDesiredState& s) {
  v1::WatchResponse message;
  ToProto(s, message.mutable_desired_state());
  return message;
}

v1::WatchResponse Parse(grpc::ByteBuffer buffer) {
  v1::WatchResponse parsed;
  EXPECT_TRUE(grpc::SerializationTraits<v1::WatchResponse>::Deserialize(&buffer, &parsed).ok());
  return parsed;
}

// Where the body's bytes are: the second slice onward (the first is the host's own header).
const uint8_t* BodyStart(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  EXPECT_GE(slices.size(), 2u);
  return slices.size() >= 2 ? slices[1].begin() : nullptr;
}

const std::string kLongHostname(200, 'h');

struct Case {
  const char* name;
  int keys;  // 2000 keys: a body in its own mapping (outgoing_message.h)
  const char* hostname;
  bool with_revocations;
};

class DesiredStateBodiesTest : public ::testing::TestWithParam<Case> {};

TEST_P(DesiredStateBodiesTest, ParsesToWhatItWouldHaveBeenSentAlone) {
  const Case& c = GetParam();
  DesiredStateBodies bodies;
  const HostDesiredState s = State(c.hostname, c.keys, std::string(64, 'a'),
                                   c.with_revocations ? Revocations(3, "r") : nullptr);
  size_t bytes = 0;
  grpc::ByteBuffer buffer = bodies.Message(s, &bytes);
  EXPECT_EQ(bytes, buffer.Length());
  const v1::WatchResponse expected = Expected(s);
  EXPECT_EQ(bytes, expected.ByteSizeLong());
  const v1::WatchResponse parsed = Parse(buffer);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected))
      << parsed.DebugString().substr(0, 2000);
}

INSTANTIATE_TEST_SUITE_P(
    Table, DesiredStateBodiesTest,
    ::testing::Values(Case{"NoKeys", 0, "web-1", false}, Case{"SomeKeys", 3, "web-1", true},
                      Case{"NoHostname", 3, "", true},
                      // 200 bytes of hostname: a two-byte length varint inside the header.
                      Case{"LongHostname", 3, kLongHostname.c_str(), true},
                      Case{"LargeBodyOwnMapping", 2000, "db-1", true},
                      Case{"LargeNoRevocations", 2000, "db-1", false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DesiredStateBodies, HostsWithTheSameStateShareOneBody) {
  DesiredStateBodies bodies;
  RevocationListPtr revocations = Revocations(1, "x");
  grpc::ByteBuffer a = bodies.Message(State("a", 50, "d1", revocations), nullptr);
  grpc::ByteBuffer b = bodies.Message(State("b", 50, "d1", revocations), nullptr);
  EXPECT_EQ(BodyStart(a), BodyStart(b));
  EXPECT_EQ(bodies.entries(), 1u);
  EXPECT_EQ(Parse(b).desired_state().hostname(), "b");
  EXPECT_EQ(Parse(a).desired_state().hostname(), "a");
}

TEST(DesiredStateBodies, AnyDifferenceMakesAnotherBody) {
  DesiredStateBodies bodies;
  RevocationListPtr revocations = Revocations(1, "x");
  const HostDesiredState base = State("h", 5, "d1", revocations);
  grpc::ByteBuffer first = bodies.Message(base, nullptr);
  std::vector<HostDesiredState> others(5, base);
  others[0].digest = "d2";                      // other accounts or lines
  others[1].epoch = "epoch-2";                  // a reloaded view
  others[2].generation = 43;                    // a later change
  others[3].revocations = Revocations(1, "x");  // another list object, even if equal
  others[4].revocations = nullptr;              // none known
  for (const HostDesiredState& other : others) {
    grpc::ByteBuffer buffer = bodies.Message(other, nullptr);
    EXPECT_NE(BodyStart(buffer), BodyStart(first));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Parse(buffer), Expected(other)));
  }
  EXPECT_EQ(bodies.entries(), 6u);
}

TEST(DesiredStateBodies, StaysWithinItsBoundsAndPendingWritesKeepTheirBodies) {
  DesiredStateBodies bodies(/*max_entries=*/4, /*max_bytes=*/1 << 20);
  grpc::ByteBuffer kept = bodies.Message(State("h", 20, "d0"), nullptr);
  for (int i = 1; i < 10; ++i) bodies.Message(State("h", 20, "d" + std::to_string(i)), nullptr);
  EXPECT_EQ(bodies.entries(), 4u);
  // Evicted from the cache, still whole in the write that holds it.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Parse(kept),
                                                                 Expected(State("h", 20, "d0"))));
  // By bytes: bodies of about 100 KB each, 256 KB allowed.
  DesiredStateBodies small(/*max_entries=*/64, /*max_bytes=*/256 << 10);
  for (int i = 0; i < 10; ++i) small.Message(State("h", 2000, "e" + std::to_string(i)), nullptr);
  EXPECT_LE(small.entries(), 3u);
  EXPECT_GE(small.entries(), 1u);
}

}  // namespace
}  // namespace keyfleet::controller
