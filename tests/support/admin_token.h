// Admin API calls as a test's token holder: every call on these channels carries
// "authorization: Bearer TOKEN", so tests keep using plain grpc::ClientContexts.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace keyfleet::testing {

// Adds the token to every call of a channel.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> TokenInterceptor(
    const std::string& token);
// The same, as the vector ControllerServer::InProcessChannel takes.
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
TokenInterceptors(const std::string& token);

// A channel to `address` with `credentials` whose calls carry `token`.
std::shared_ptr<grpc::Channel> TokenChannel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> credentials,
                                            const std::string& token);

// A TLS channel trusting `ca_pem` whose calls carry `token`.
std::shared_ptr<grpc::Channel> TokenTlsChannel(const std::string& address,
                                               const std::string& ca_pem, const std::string& token);

// One unary call of `method` ("/pkg.Service/Method") with serialized `request` bytes, by name:
// for tables of calls over many methods. Fills `response` (bytes) when given.
grpc::Status GenericUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method, const std::string& request,
                              std::string* response = nullptr);

// The token in a --bootstrap-token-file the controller wrote (trailing newline removed).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace keyfleet::testing
