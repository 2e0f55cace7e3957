// The TLS settings of keyfleet's HTTPS servers (the controller's dashboard): the same server
// certificate as its gRPC port, TLS 1.2 or later, no client certificate asked for (the dashboard
// authenticates with API tokens).
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace keyfleet::tls {

// Configures `ctx` (a server SSL_CTX, as cpp-httplib's SSLServer hands it over) to present
// `chain_pem` (leaf first, then its issuers) with `key_pem`. INVALID_ARGUMENT when the key does
// not match the leaf or the PEM is unusable; the message never holds key material.
absl::Status ConfigureHttpsServerContext(SSL_CTX& ctx, const std::string& key_pem,
                                         const std::string& chain_pem);

}  // namespace keyfleet::tls
