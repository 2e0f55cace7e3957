// The agent gRPC service (callback API: no thread per stream). Watch registers the host, sends
// its full desired state at once and again whenever the digest changes, plus heartbeats;
// Report records what the agent applied.
#pragma once

#include "controller/handlers/agent_handlers.h"
#include "controller/service/watch_hub.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::controller {

class AgentServiceImpl final : public v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(AgentHandlers& agents, WatchHub& hub) : agents_(agents), hub_(hub) {}

  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(grpc::CallbackServerContext* ctx,
                                                     const v1::WatchRequest* req) override;
  grpc::ServerUnaryReactor* Report(grpc::CallbackServerContext* ctx, const v1::ReportRequest* req,
                                   v1::ReportResponse* resp) override;

 private:
  AgentHandlers& agents_;
  WatchHub& hub_;
};

}  // namespace keyfleet::controller
