// The host's identity on disk and how it gets one: enrollment with a join token (the controller's
// CA pinned by hash, as `kubeadm join --discovery-token-ca-cert-hash` does), and renewal over
// mTLS. The private key is generated here and never leaves the host.
//
// TLS_DIR (root-only 0700) holds host.pem (the private key and the certificate in one file, 0600,
// so a crash can never pair a new key with an old certificate) and ca.pem (the controller's trust
// bundle). Both are written with the same rules as authorized_keys (new file, fsync, rename,
// fsync of the directory; no symlinks anywhere).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyfleet::agent {

struct HostCredentials {
  std::string hostname;  // from the certificate
  std::string key_pem;
  std::string cert_pem;
  std::string ca_bundle_pem;
  absl::Time not_before;
  absl::Time not_after;
};

struct EnrollOptions {
  // HOST:PORT each (replicas of one controller), tried in this order until one answers.
  std::vector<std::string> controllers;
  std::string token;
  std::string ca_pin;    // "sha256:HEX"
  std::string hostname;  // "" : the token's
  std::string tls_dir;
  absl::Duration timeout = absl::Seconds(30);  // for each controller tried
};

// Pins the controller's CA, generates the key, sends the CSR with the token, and saves what it
// gets back. Nothing is written unless the controller issued a certificate. A controller that
// cannot be reached (no connection, no TLS handshake within `timeout`, or the call failed as
// UNAVAILABLE) passes the turn to the next one; any other answer (a wrong pin, a refused token)
// is final. UNAVAILABLE naming each controller's failure when none could be reached.
absl::StatusOr<HostCredentials> Enroll(const EnrollOptions& options);

// FAILED_PRECONDITION "not enrolled: …" when the files are missing; the file checks' errors
// (symlinks, modes) otherwise.
absl::StatusOr<HostCredentials> LoadHostCredentials(const std::string& tls_dir);

// Channel credentials presenting the host certificate and trusting only the controller's CA.
std::shared_ptr<grpc::ChannelCredentials> MutualTlsCredentials(const HostCredentials& creds);

// When two thirds of the certificate's life have passed; RenewalDue from then on.
absl::Time RenewalTime(const HostCredentials& creds);
bool RenewalDue(const HostCredentials& creds, absl::Time now);

// A new key and certificate for the host of `current` from the controller (authenticated by the
// current certificate over `channel`), saved to `tls_dir`.
absl::StatusOr<HostCredentials> Renew(const std::shared_ptr<grpc::Channel>& channel,
                                      const HostCredentials& current, const std::string& tls_dir,
                                      absl::Duration timeout);

}  // namespace keyfleet::agent
