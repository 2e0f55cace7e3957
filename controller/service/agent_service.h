// The agent gRPC service (callback API: no thread per stream). The caller is authenticated by
// its client certificate (AgentAuthenticator) before anything else; its Watch stream opens with
// a hello; the controller then sends the host's full desired state, again whenever the digest
// changes, plus heartbeats, and records the reports the agent sends back on the same stream. A
// stream ends when its host is removed or enrolled again, or its certificate expires. Renew
// issues a fresh certificate to an authenticated host.
#pragma once

#include "common/clock.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/service/agent_auth.h"
#include "controller/service/watch_hub.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::controller {

class AgentServiceImpl final : public v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(AgentHandlers& agents, WatchHub& hub, const AgentAuthenticator& auth,
                   const Clock& clock)
      : agents_(agents), hub_(hub), auth_(auth), clock_(clock) {}

  grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx, const v1::RenewRequest* req,
                                  v1::RenewResponse* resp) override;

 private:
  AgentHandlers& agents_;
  WatchHub& hub_;
  const AgentAuthenticator& auth_;
  const Clock& clock_;
};

// Enrollment with a join token (TLS, no client certificate yet). Synchronous: it runs one
// database transaction.
class EnrollmentServiceImpl final : public v1::EnrollmentService::Service {
 public:
  explicit EnrollmentServiceImpl(const AgentAuthenticator& auth) : auth_(auth) {}
  grpc::Status Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                      v1::EnrollResponse* resp) override;

 private:
  const AgentAuthenticator& auth_;
};

}  // namespace keyfleet::controller
