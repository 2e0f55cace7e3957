#include "common/tls/grpc_credentials.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace keyfleet::tls {

std::shared_ptr<grpc::ServerCredentials> ServerTlsCredentials(
    const std::string& key_pem, const std::string& chain_pem,
    const std::string& client_ca_bundle_pem) {
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.pem_root_certs = client_ca_bundle_pem;
  options.pem_key_cert_pairs.push_back({key_pem, chain_pem});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ClientTlsCredentials(const std::string& ca_bundle_pem,
                                                               const std::string& key_pem,
                                                               const std::string& cert_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_bundle_pem;
  if (!key_pem.empty() && !cert_pem.empty()) {
    options.pem_private_key = key_pem;
    options.pem_cert_chain = cert_pem;
  }
  return grpc::SslCredentials(options);
}

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return true;
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    size_t end = host.find(']');
    if (end == absl::string_view::npos) return false;
    host = host.substr(0, end);
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost") return true;
  std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace keyfleet::tls
