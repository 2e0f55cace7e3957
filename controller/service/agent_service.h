// The agent gRPC service (callback API: no thread per stream). An agent's Watch stream opens
// with a hello that registers the host; the controller then sends its full desired state, again
// whenever the digest changes, plus heartbeats, and records the reports the agent sends back on
// the same stream.
#pragma once

#include "controller/handlers/agent_handlers.h"
#include "controller/service/watch_hub.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::controller {

class AgentServiceImpl final : public v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(AgentHandlers& agents, WatchHub& hub) : agents_(agents), hub_(hub) {}

  grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  AgentHandlers& agents_;
  WatchHub& hub_;
};

}  // namespace keyfleet::controller
