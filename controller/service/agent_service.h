// The agent gRPC service (callback API: no thread per stream). The caller is authenticated by
// its client certificate (AgentAuthenticator) before anything else; its Watch stream opens with
// a hello; the controller then sends the host's full desired state, again whenever the digest
// changes, plus heartbeats, and records the reports the agent sends back on the same stream. A
// stream ends when its host is removed or enrolled again, or its certificate expires, or when a
// write to it stalls (the agent does not read; see WatchHub and WriteBudget, which bound what all
// streams together hold). Renew issues a fresh certificate to an authenticated host;
// GetRevocations gives it the fleet's revoked keys for its KRL.
//
// Nothing here waits for the database on gRPC's callback threads: desired states come from the
// fleet view, reports and security events are buffered for the writer thread, and the one write
// a hello can cause (--insecure-dev: a host naming itself) runs on a background queue.
#pragma once

#include "common/clock.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/service/agent_auth.h"
#include "controller/service/agent_stream_observer.h"
#include "controller/service/background_queue.h"
#include "controller/service/desired_state_bodies.h"
#include "controller/service/watch_hub.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::controller {

// --insecure-dev hellos waiting to be registered; one more is refused UNAVAILABLE at once.
inline constexpr size_t kMaxPendingRegistrations = 256;

// Watch is served on raw byte buffers (the messages are still AgentMessage in and WatchResponse
// out, parsed and serialized here): while a write waits for a slow agent the controller then
// holds only the serialized state, not the protobuf it was made from as well (which was larger
// than the serialized bytes: 1.6 MB per pending 621 KB state instead of about 0.7 MB).
class AgentServiceImpl final
    : public v1::AgentService::WithCallbackMethod_GetRevocations<
          v1::AgentService::WithCallbackMethod_Renew<
              v1::AgentService::WithRawCallbackMethod_Watch<v1::AgentService::Service>>> {
 public:
  AgentServiceImpl(AgentHandlers& agents, WatchHub& hub, const AgentAuthenticator& auth,
                   const Clock& clock)
      : agents_(agents), hub_(hub), auth_(auth), clock_(clock) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx, const v1::RenewRequest* req,
                                  v1::RenewResponse* resp) override;
  // Answered from the fleet view: no database, nothing that waits.
  grpc::ServerUnaryReactor* GetRevocations(grpc::CallbackServerContext* ctx,
                                           const v1::GetRevocationsRequest* req,
                                           v1::GetRevocationsResponse* resp) override;
  // Before the server starts; null for none.
  void set_observer(AgentStreamObserver* observer) { observer_ = observer; }

 private:
  AgentHandlers& agents_;
  WatchHub& hub_;
  const AgentAuthenticator& auth_;
  const Clock& clock_;
  BackgroundQueue registrations_{kMaxPendingRegistrations};
  DesiredStateBodies bodies_;
  AgentStreamObserver* observer_ = nullptr;
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
