// Agent identities for tests and benchmarks, made the real way: a join token from the admin API,
// a key generated here, enrollment through the controller's EnrollmentService over TLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::testing {

struct TestHostCredentials {
  std::string hostname;
  std::string key_pem;
  std::string cert_pem;
};

// A join token for `hostname` ("" : any new host) carrying `labels`, usable `uses` times.
absl::StatusOr<std::string> CreateJoinToken(v1::AdminService::Stub& admin,
                                            const std::string& hostname,
                                            const std::map<std::string, std::string>& labels,
                                            uint32_t uses = 1);

// Enrolls with `token` over TLS (trusting `ca_pem`) and returns the host's key and certificate.
// `csr_hostname`: the CN put in the request (the controller ignores it).
absl::StatusOr<TestHostCredentials> EnrollTestHost(const std::string& address,
                                                   const std::string& ca_pem,
                                                   const std::string& token,
                                                   const std::string& hostname);

// The same over an existing TLS `channel` (many enrollments share one connection).
absl::StatusOr<TestHostCredentials> EnrollTestHost(const std::shared_ptr<grpc::Channel>& channel,
                                                   const std::string& token,
                                                   const std::string& hostname);

// A TLS channel trusting `ca_pem`, presenting `creds` when given.
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& ca_pem,
                                          const TestHostCredentials* creds = nullptr);

// A new, separate channel (its own TCP connection) per call: each simulated host has its own
// TLS session, as real agents do.
std::shared_ptr<grpc::Channel> DedicatedTlsChannel(
    const std::string& address, const std::string& ca_pem, const TestHostCredentials& creds,
    const grpc::ChannelArguments& args = grpc::ChannelArguments());

}  // namespace keyfleet::testing
