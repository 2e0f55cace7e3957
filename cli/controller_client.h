// Talking to the controller from `keyfleet`: where it is, one call with a deadline, and what a
// failed call means for the exit code (1 refused, with the server's reason; 3 unreachable).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli/global_options.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::cli {

inline constexpr char kDefaultController[] = "127.0.0.1:7443";

// --controller, else $KEYFLEET_CONTROLLER (already folded into globals by main), else
// `controller:` in ~/.config/keyfleet/config.yaml, else 127.0.0.1:7443.
std::string ResolveControllerAddress(const GlobalOptions& globals);

// TLS verifying the controller against the CA file: --ca, else $KEYFLEET_CA (folded in by main),
// else `ca:` in the config file; plaintext only with --insecure-dev (or `insecure_dev: true`).
// INVALID_ARGUMENT saying where to get the CA when none is configured or it cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ResolveCredentials(
    const GlobalOptions& globals);

class ControllerClient {
 public:
  ControllerClient(const GlobalOptions& globals,
                   std::shared_ptr<grpc::ChannelCredentials> credentials);

  v1::AdminService::Stub& admin() { return *admin_; }
  const std::string& address() const { return address_; }

  // A context with the call deadline and the caller's name for the audit log ($USER).
  std::unique_ptr<grpc::ClientContext> Context() const;

  // Prints why `status` failed to stderr and returns the exit code: 3 when the controller could
  // not be reached (UNAVAILABLE, DEADLINE_EXCEEDED), 1 otherwise (the request was refused).
  int Fail(const grpc::Status& status) const;

 private:
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace keyfleet::cli
