#include "controller/service/agent_auth.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace keyfleet::controller {

std::string PeerCertificatePem(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth) return "";
  // gRPC puts the presented leaf here even when it leaves verification to us
  // (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY), so a refusal can be audited.
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return "";
  return std::string(pem.front().data(), pem.front().size());
}

absl::StatusOr<std::optional<HostIdentity>> AgentAuthenticator::AuthenticateHost(
    const grpc::ServerContextBase& ctx, const char* method) const {
  const AgentRpcAuth* rule = nullptr;
  for (const AgentRpcAuth& r : kAgentRpcAuth) {
    if (std::strcmp(r.method, method) == 0) rule = &r;
  }
  if (rule == nullptr || rule->credential != AgentCredential::kHostCertificate) {
    return absl::InternalError(absl::StrCat(method, " is not a host-certificate RPC"));
  }
  if (insecure_dev()) return std::optional<HostIdentity>();
  absl::StatusOr<HostIdentity> identity =
      enrollment_->AuthenticateHost(ctx.peer(), PeerCertificatePem(ctx), rule->call);
  if (!identity.ok()) return identity.status();
  return std::optional<HostIdentity>(*std::move(identity));
}

}  // namespace keyfleet::controller
