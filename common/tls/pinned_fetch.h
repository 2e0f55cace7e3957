// Trust on first use, made safe by a pin: how an agent learns the controller's CA at enrollment,
// the way `kubeadm join --discovery-token-ca-cert-hash` does. The operator copies the CA's pin
// from the controller to the agent; the agent connects, and accepts the CA the controller presents
// only if its public key has that pin and it really issued the controller's certificate.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyfleet::tls {

// Connects to `address` ("host:port", "[v6 literal]:port"), completes a TLS (1.2 or later)
// handshake offering ALPN "h2" (so a gRPC server accepts it) and no client certificate, and looks
// through the certificate chain the server presented for the one whose pin equals `pin` (compared
// case-insensitively). That certificate must be a CA (basicConstraints CA:TRUE) and the server's
// leaf certificate must verify against it alone (as a trust anchor, at the current time, for TLS
// server use; other presented certificates may serve as intermediates). Returns that CA
// certificate as PEM. OpenSSL does no verification of its own during the handshake: the pin is
// what is trusted.
//
// `timeout` bounds the TCP connect and the handshake together (name resolution is not bounded
// by it). No application data is exchanged.
//
// INVALID_ARGUMENT: a malformed address or pin. UNAVAILABLE: the name does not resolve, the
// connection or the handshake fails (naming the address and OpenSSL's reason).
// DEADLINE_EXCEEDED: `timeout` passed first. PERMISSION_DENIED: no presented certificate has the
// pin ("... (it presented: PINS); check --ca-hash"), the matching one is not a CA, or the leaf
// does not verify against it.
absl::StatusOr<std::string> FetchPinnedCaBundle(const std::string& address, const std::string& pin,
                                                absl::Duration timeout);

}  // namespace keyfleet::tls
