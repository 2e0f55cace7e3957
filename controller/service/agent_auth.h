// Who is calling the agent API, decided in one place. Each agent RPC has one entry in
// kAgentRpcAuth saying what proves the caller; the services ask Authenticate() and nothing else.
// Over mTLS a host is only ever the one its verified client certificate names; with
// --insecure-dev (loopback only, no TLS) nothing is verified and the hello names the host.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/handlers/enrollment_handlers.h"

namespace keyfleet::controller {

enum class AgentCredential {
  kJoinToken,        // checked by the handler, inside the transaction that consumes it
  kHostCertificate,  // a client certificate from the controller's CA, current enrollment
};

struct AgentRpcAuth {
  const char* method;  // full gRPC method name
  const char* call;    // short name in audit actions ("agent.CALL.denied")
  AgentCredential credential;
};

inline constexpr AgentRpcAuth kAgentRpcAuth[] = {
    {"/keyfleet.v1.EnrollmentService/Enroll", "enroll", AgentCredential::kJoinToken},
    {"/keyfleet.v1.AgentService/Watch", "watch", AgentCredential::kHostCertificate},
    {"/keyfleet.v1.AgentService/Renew", "renew", AgentCredential::kHostCertificate},
    {"/keyfleet.v1.AgentService/GetRevocations", "revocations", AgentCredential::kHostCertificate},
};

// The leaf certificate the peer presented in its TLS handshake (PEM), "" when none.
std::string PeerCertificatePem(const grpc::ServerContextBase& ctx);

class AgentAuthenticator {
 public:
  // `enrollment` is null only with --insecure-dev.
  explicit AgentAuthenticator(EnrollmentHandlers* enrollment) : enrollment_(enrollment) {}

  bool insecure_dev() const { return enrollment_ == nullptr; }
  // The verified host calling `method` (a kHostCertificate RPC); nullopt with --insecure-dev.
  // UNAUTHENTICATED / PERMISSION_DENIED, already audited, otherwise.
  absl::StatusOr<std::optional<HostIdentity>> AuthenticateHost(const grpc::ServerContextBase& ctx,
                                                               const char* method) const;
  EnrollmentHandlers* enrollment() const { return enrollment_; }

 private:
  EnrollmentHandlers* enrollment_;
};

}  // namespace keyfleet::controller
