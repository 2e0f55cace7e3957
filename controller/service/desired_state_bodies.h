// Desired states serialized once and shared by every stream they go to. Hosts under the same
// grants get the same state, byte for byte, but for their hostname: a push to a fleet used to
// build and serialize that state once per host (100 keys: about 10 KB copied into a protobuf,
// sized, serialized and mapped, 50,000 times for one revocation). Here the state without its
// hostname (the body) is serialized once per distinct state and kept; each stream's message is a
// few header bytes of its own (the WatchResponse and DesiredState framing and the hostname
// field) followed by the shared body, as slices of one gRPC byte buffer: no copy, and a body
// pending to many slow agents is held once. Protobuf reads fields in any order, so the agent
// parses exactly the message it would have been sent before. Thread-safe.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "controller/desired_state.h"

namespace keyfleet::controller {

class DesiredStateBodies {
 public:
  // Bodies kept at most (the oldest go first; one larger than `max_bytes` is still kept alone).
  // A body a pending write still holds lives on in that write.
  explicit DesiredStateBodies(size_t max_entries = 64, size_t max_bytes = size_t{32} << 20);

  // The serialized WatchResponse carrying `state` (its desired_state, with its revocations),
  // and its size in bytes.
  grpc::ByteBuffer Message(const HostDesiredState& state, size_t* bytes);

  size_t entries() const;

 private:
  struct Body {
    // What makes two hosts' bodies equal: the digest covers the accounts, their lines, the
    // unmanaged mode and the revocation count; the recent revocations are the list object
    // itself (immutable, and kept alive here so its address is never reused while cached).
    std::string digest;
    std::string epoch;
    uint64_t generation = 0;
    RevocationListPtr revocations;
    std::vector<grpc::Slice> slices;
    size_t bytes = 0;

    bool Serves(const HostDesiredState& state) const;
  };

  static Body Build(const HostDesiredState& state);
  const Body* FindLocked(const HostDesiredState& state) const;  // null: none yet
  void AddLocked(Body body);

  const size_t max_entries_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::deque<Body> bodies_;  // oldest first
  size_t total_bytes_ = 0;
};

}  // namespace keyfleet::controller
