// The real binaries a fault scenario runs and breaks: keyfleet-controller replicas (TLS from
// their CA, the bootstrap admin token from a file), keyfleet-agent processes on sandbox hosts
// (enrolled with join tokens, watching over mutual TLS), and the keyfleet CLI. Plus reading what
// the agents wrote.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "node-agent/tests/sandbox.h"
#include "tests/faults/harness.h"
#include "tests/support/tcp_listening.h"

namespace keyfleet::faults {

// Where replicas of one deployment share their CA directory and bootstrap token file.
struct ControllerSite {
  std::string dir;  // DIR/ca, DIR/bootstrap.token
  std::string ca_file() const { return dir + "/ca/ca.crt"; }
  std::string token_file() const { return dir + "/bootstrap.token"; }
};

struct ControllerOptions {
  std::string binary;
  std::string database;  // a libpq connection string
  std::string address;   // IPV4:PORT
  ControllerSite site;
  std::string log;
  std::vector<std::string> tls_names = {"127.0.0.1"};
  std::vector<std::string> extra_args;  // e.g. --config FILE
  // > 0: started under `prlimit --nofile=N:N` (it raises its soft limit to the hard one).
  int open_file_limit = 0;
  std::string prlimit_binary;
};

// One keyfleet-controller process (TLS), restartable on the same address.
class Controller {
 public:
  explicit Controller(ControllerOptions options) : options_(std::move(options)) {}
  ~Controller() { Stop(); }
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts it and waits (at most `limit`) until it answers an admin call; the seconds that took.
  absl::StatusOr<double> Start(milliseconds limit = seconds(30));
  void Kill9();  // SIGKILL, reaped
  void Stop();   // SIGTERM, then SIGKILL after 5 s
  bool running() const { return pid_ > 0; }
  // Whether the process is still there (not exited or killed by something else).
  bool Alive();
  pid_t pid() const { return pid_; }
  const std::string& address() const { return options_.address; }
  const ControllerOptions& options() const { return options_; }
  // Admin calls with the bootstrap token over TLS (valid after Start).
  v1::AdminService::Stub& admin() { return *admin_; }
  std::shared_ptr<grpc::Channel> admin_channel() const { return channel_; }
  std::string ca_pem() const;

 private:
  ControllerOptions options_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

using ::keyfleet::testing::Listening;  // tests/support/tcp_listening.h

struct CliResult {
  int exit_code = -1;  // 124: killed by its time bound
  std::string out;
  std::string err;
};

// `keyfleet --controller ADDRESS --ca … --token-file … ARGS` as the bootstrap admin, killed after
// `limit_seconds` (its own retries of a mutation take up to 3 × 30 s; a bound far past them).
CliResult RunCli(const std::string& cli_binary, const std::string& address,
                 const ControllerSite& site, const std::string& args, const std::string& err_dir,
                 int limit_seconds = 120);

// A host with a keyfleet-agent process: a sandbox root (etc/passwd with alice and bob, their
// homes), enrolled with a single-use join token naming it (labels env=prod), running
// `keyfleet-agent run` against one or more controller addresses.
class FleetAgent {
 public:
  FleetAgent(std::string hostname, std::string agent_binary, const std::string& log_dir);
  ~FleetAgent() { Stop(); }
  FleetAgent(const FleetAgent&) = delete;
  FleetAgent& operator=(const FleetAgent&) = delete;

  // A join token from `admin`, then `keyfleet-agent enroll` through `controllers` (in order).
  absl::Status Enroll(v1::AdminService::Stub& admin, const std::vector<std::string>& controllers);
  // `keyfleet-agent run --controller A,B,…` on the sandbox (the agent shuffles the list).
  absl::Status Start(const std::vector<std::string>& controllers);
  void Kill9();
  void Stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& hostname() const { return hostname_; }
  const std::string& log() const { return log_; }
  // ROOT/home/ACCOUNT/.ssh/authorized_keys
  std::string FilePath(const std::string& account = "alice") const;
  std::string File(const std::string& account = "alice") const;
  agent::testing::Sandbox& sandbox() { return sandbox_; }

  // The controller address named by the last "watching controller ADDRESS (PEER)" line of its
  // log ("" when none), and how many such lines there are.
  std::pair<std::string, int> Watching() const;

 private:
  std::string hostname_;
  std::string binary_;
  std::string log_;
  std::string token_file_;
  agent::testing::Sandbox sandbox_;
  DirectoryWatchdog sandbox_watchdog_{sandbox_.root()};
  pid_t pid_ = -1;
};

// The key blobs (base64) of the managed block of an authorized_keys file; nullopt when the file
// has no intact block (no block, a damaged marker, or a block whose hash does not match what
// the agent wrote).
std::optional<std::set<std::string>> ManagedBlobs(const std::string& file_text);
// The base64 blob of "TYPE BLOB [COMMENT]" or of an authorized_keys line with options.
std::string BlobOf(const std::string& line);
// The epoch in the managed block's begin marker ("" when none).
std::string MarkerEpoch(const std::string& file_text);

// The keys the database grants to `account` on every env=prod host (active keys of enabled
// principals whose grants name the account and select env=prod or every host), as blobs.
// Throws (pqxx) when the database cannot be read.
std::set<std::string> GrantedBlobs(const std::string& database_url,
                                   const std::string& account = "alice");

// Waits (at most `limit`) until each agent's managed block for `account` holds exactly
// `expected`; each agent's seconds from `since` until it did (-1: it never did).
std::vector<double> WaitConverged(const std::vector<FleetAgent*>& agents,
                                  const std::set<std::string>& expected, Clock::time_point since,
                                  milliseconds limit, const std::string& account = "alice");

// "agents converged 4/4 in 1.2 s (max)" from WaitConverged's answer.
std::string ConvergedFigure(const std::vector<double>& seconds_each);
bool AllConverged(const std::vector<double>& seconds_each);

}  // namespace keyfleet::faults
