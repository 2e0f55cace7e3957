#include "tests/support/test_identity.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/x509.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::testing {

absl::StatusOr<std::string> CreateJoinToken(v1::AdminService::Stub& admin,
                                            const std::string& hostname,
                                            const std::map<std::string, std::string>& labels,
                                            uint32_t uses) {
  grpc::ClientContext ctx;
  v1::CreateHostTokenRequest req;
  req.set_hostname(hostname);
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  req.set_uses(uses);
  v1::CreateHostTokenResponse resp;
  grpc::Status s = admin.CreateHostToken(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("CreateHostToken: ", s.error_message()));
  }
  return resp.token();
}

absl::StatusOr<TestHostCredentials> EnrollTestHost(const std::string& address,
                                                   const std::string& ca_pem,
                                                   const std::string& token,
                                                   const std::string& hostname) {
  return EnrollTestHost(TlsChannel(address, ca_pem), token, hostname);
}

absl::StatusOr<TestHostCredentials> EnrollTestHost(const std::shared_ptr<grpc::Channel>& channel,
                                                   const std::string& token,
                                                   const std::string& hostname) {
  TestHostCredentials creds;
  KF_ASSIGN_OR_RETURN(creds.key_pem, tls::GenerateKeyPem());
  KF_ASSIGN_OR_RETURN(std::string csr, tls::MakeCsrPem(creds.key_pem, "test-agent"));
  auto stub = v1::EnrollmentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::EnrollRequest req;
  req.set_token(token);
  req.set_hostname(hostname);
  req.set_csr_pem(csr);
  v1::EnrollResponse resp;
  grpc::Status s = stub->Enroll(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("Enroll: ", s.error_message()));
  }
  creds.hostname = resp.hostname();
  creds.cert_pem = resp.certificate_pem();
  return creds;
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& ca_pem,
                                          const TestHostCredentials* creds) {
  return grpc::CreateChannel(address, tls::ClientTlsCredentials(ca_pem, creds ? creds->key_pem : "",
                                                                creds ? creds->cert_pem : ""));
}

std::shared_ptr<grpc::Channel> DedicatedTlsChannel(const std::string& address,
                                                   const std::string& ca_pem,
                                                   const TestHostCredentials& creds,
                                                   const grpc::ChannelArguments& args) {
  static std::atomic<int> counter{0};
  grpc::ChannelArguments own = args;
  // A distinct argument keeps gRPC from sharing one subchannel (one connection) between hosts.
  own.SetInt("keyfleet.test_channel_id", counter++);
  return grpc::CreateCustomChannel(
      address, tls::ClientTlsCredentials(ca_pem, creds.key_pem, creds.cert_pem), own);
}

}  // namespace keyfleet::testing
