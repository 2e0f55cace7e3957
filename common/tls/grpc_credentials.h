// gRPC channel and server credentials for keyfleet's TLS: every connection to the controller is
// TLS; the server requests a client certificate but leaves its verification to the service edge
// (controller/service/agent_auth.h), so that a refused certificate is answered with a clear
// status and audited instead of failing in the handshake.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::tls {

// TLS with `chain_pem` (leaf, then the CA) and its `key_pem`; asks clients for a certificate
// issued by one of `client_ca_bundle_pem` without requiring one.
std::shared_ptr<grpc::ServerCredentials> ServerTlsCredentials(
    const std::string& key_pem, const std::string& chain_pem,
    const std::string& client_ca_bundle_pem);

// Verifies the server against `ca_bundle_pem` only (never the system's roots); presents
// `cert_pem` with `key_pem` when both are given.
std::shared_ptr<grpc::ChannelCredentials> ClientTlsCredentials(const std::string& ca_bundle_pem,
                                                               const std::string& key_pem = "",
                                                               const std::string& cert_pem = "");

// True for "127.x.y.z:P", "[::1]:P", "localhost:P" (and unix: sockets): the only addresses
// --insecure-dev may listen on.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace keyfleet::tls
