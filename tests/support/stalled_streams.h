// Watch streams that never read (issue 15), for anything that needs misbehaving agents beside
// real ones: each stream sends its hello and then never reads, so once its HTTP/2 window is full
// whatever the controller writes to it stays in the controller. Used by stalled_watchers.cc (the
// bench and the ctest test) and tests/faults.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::testing {

class StalledWatch;

// The misbehaving client: its connections (one enrolled host's certificate is enough; what the
// controller holds per stream is the same either way) and the stalled streams on them. Make the
// channels with GRPC_ARG_HTTP2_BDP_PROBE 0, so a stream keeps gRPC's 64 KiB window instead of
// growing it to take whole messages into this process's buffers.
class StalledStreams {
 public:
  explicit StalledStreams(std::vector<std::shared_ptr<grpc::Channel>> channels);
  ~StalledStreams();  // Close()
  StalledStreams(const StalledStreams&) = delete;
  StalledStreams& operator=(const StalledStreams&) = delete;

  // Opens `count` more streams, spread over the channels in turn.
  void Open(int count);
  int opened() const { return static_cast<int>(streams_.size()); }

  // Cancels every stream and waits (30 s at most) until gRPC has finished each, then drops the
  // connections. False if some stream did not end in time (it is then left allocated, as gRPC
  // may still call it).
  bool Close();

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<StalledWatch>> streams_;
};

}  // namespace keyfleet::testing
