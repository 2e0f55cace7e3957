// Many simulated hosts for benchmarks, each with its own identity and its own TLS connection, as
// a real fleet has: the controller binary started with TLS (or --insecure-dev), hosts enrolled
// through its EnrollmentService, and their connections made a bounded number at a time. Admin
// calls carry the controller's bootstrap admin token.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "tests/support/test_identity.h"

namespace keyfleet::testing {

struct BenchController {
  pid_t pid = -1;
  std::string address;
  std::string ca_pem;       // empty in plaintext mode
  std::string admin_token;  // the bootstrap admin token, from ROOT/bootstrap.token
  std::shared_ptr<grpc::Channel> admin_channel;  // every call carries admin_token
};

// Starts BINARY on a free loopback port with a fresh CA in ROOT/ca (mtls) or --insecure-dev,
// writing its bootstrap admin token to ROOT/bootstrap.token (--bootstrap-token-file), its log in
// ROOT/controller.log; waits until it serves (30 s). `admin_args` configure admin_channel.
// Another replica on the same database and ROOT (its CA and bootstrap token) logs to
// ROOT/`log_name`.
absl::StatusOr<BenchController> StartBenchController(
    const std::string& binary, const std::string& database, const std::string& root, bool mtls,
    const grpc::ChannelArguments& admin_args = grpc::ChannelArguments(),
    const std::string& log_name = "controller.log");

// Enrolls PREFIX0 … PREFIX(count-1) with join tokens carrying `labels` (1,000 hosts a token, the
// most a token allows), on `threads` threads sharing one connection.
absl::StatusOr<std::vector<TestHostCredentials>> EnrollFleet(
    v1::AdminService::Stub& admin, const BenchController& controller, const std::string& prefix,
    int count, const std::map<std::string, std::string>& labels, int threads = 4);

struct FleetConnection {
  std::vector<std::shared_ptr<grpc::Channel>> channels;  // one per host, READY
  int connected = 0;
  double seconds = 0;
  double controller_cpu_ms_per_handshake = 0;
  double agents_cpu_ms_per_handshake = 0;  // this process: the simulated agents' side
};

// One TLS channel per host with its certificate, connected and handshaken before any call, at
// most `in_flight` at a time (both ends of every handshake run on this machine: all at once on
// two cores would overrun gRPC's 20 s connect deadline and retry for ever, which says nothing
// about a fleet of separate machines).
FleetConnection ConnectFleet(const BenchController& controller,
                             const std::vector<TestHostCredentials>& hosts,
                             const grpc::ChannelArguments& args = grpc::ChannelArguments(),
                             int in_flight = 256);

}  // namespace keyfleet::testing
