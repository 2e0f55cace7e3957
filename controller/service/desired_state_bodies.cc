#include "controller/service/desired_state_bodies.h"

#include <algorithm>

#include "controller/service/outgoing_message.h"
#include "controller/service/proto_convert.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {
namespace {

// Wire format: a length-delimited field is its tag (field number << 3 | 2), the length as a
// varint, then the bytes.
constexpr uint8_t kWatchResponseDesiredStateTag = (1 << 3) | 2;  // WatchResponse.desired_state
constexpr uint8_t kDesiredStateHostnameTag = (4 << 3) | 2;       // DesiredState.hostname

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

size_t VarintSize(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

DesiredStateBodies::DesiredStateBodies(size_t max_entries, size_t max_bytes)
    : max_entries_(std::max<size_t>(max_entries, 1)), max_bytes_(max_bytes) {}

bool DesiredStateBodies::Body::Serves(const HostDesiredState& state) const {
  return digest == state.digest && epoch == state.epoch && generation == state.generation &&
         revocations == state.revocations;
}

const DesiredStateBodies::Body* DesiredStateBodies::FindLocked(
    const HostDesiredState& state) const {
  for (auto it = bodies_.rbegin(); it != bodies_.rend(); ++it) {
    if (it->Serves(state)) return &*it;
  }
  return nullptr;
}

DesiredStateBodies::Body DesiredStateBodies::Build(const HostDesiredState& state) {
  v1::DesiredState message;
  ToProto(state, &message);
  message.clear_hostname();
  Body body;
  body.digest = state.digest;
  body.epoch = state.epoch;
  body.generation = state.generation;
  body.revocations = state.revocations;
  grpc::ByteBuffer serialized = SerializeOutgoing(message);
  body.bytes = serialized.Length();
  (void)serialized.Dump(&body.slices);
  return body;
}

void DesiredStateBodies::AddLocked(Body body) {
  while (!bodies_.empty() &&
         (bodies_.size() >= max_entries_ || total_bytes_ + body.bytes > max_bytes_)) {
    total_bytes_ -= bodies_.front().bytes;
    bodies_.pop_front();
  }
  total_bytes_ += body.bytes;
  bodies_.push_back(std::move(body));
}

grpc::ByteBuffer DesiredStateBodies::Message(const HostDesiredState& state, size_t* bytes) {
  std::vector<grpc::Slice> slices(1);
  size_t body_bytes = 0;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const Body* body = FindLocked(state)) {
      cached = true;
      body_bytes = body->bytes;
      slices.insert(slices.end(), body->slices.begin(), body->slices.end());
    }
  }
  if (!cached) {
    // Built outside the lock: streams of hosts with other states go on meanwhile. Two streams
    // may build the same body at once; the second one's is used once and not kept.
    Body built = Build(state);
    body_bytes = built.bytes;
    slices.insert(slices.end(), built.slices.begin(), built.slices.end());
    std::lock_guard<std::mutex> lock(mu_);
    if (FindLocked(state) == nullptr) AddLocked(std::move(built));
  }
  std::string header;
  const size_t hostname_field =
      state.hostname.empty() ? 0 : 1 + VarintSize(state.hostname.size()) + state.hostname.size();
  header.push_back(static_cast<char>(kWatchResponseDesiredStateTag));
  AppendVarint(header, hostname_field + body_bytes);
  if (!state.hostname.empty()) {  // proto3 leaves an empty string out
    header.push_back(static_cast<char>(kDesiredStateHostnameTag));
    AppendVarint(header, state.hostname.size());
    header += state.hostname;
  }
  slices[0] = grpc::Slice(header);
  if (bytes != nullptr) *bytes = header.size() + body_bytes;
  return grpc::ByteBuffer(slices.data(), slices.size());
}

size_t DesiredStateBodies::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_.size();
}

}  // namespace keyfleet::controller
