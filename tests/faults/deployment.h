// One scenario's keyfleet: controller replicas (TLS) on one database, sharing a CA directory and
// the bootstrap token, on 127.0.0.1, 127.0.0.2, … with one port; agents enrolled through them
// with join tokens (labels env=prod) and watching every replica's address; alice's keys granted
// to every env=prod host. Everything it started is stopped when it goes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "tests/faults/fleet.h"
#include "tests/faults/harness.h"
#include "tests/faults/mutation_load.h"

namespace keyfleet::faults {

struct DeploymentOptions {
  std::string name;      // the scenario: its directory and host names
  std::string database;  // a libpq connection string
  int replicas = 1;
  int agents = 4;
  int open_file_limit = 0;                   // see ControllerOptions
  std::vector<std::string> controller_args;  // extra flags for every replica
  // Called for each agent's host before its agent first starts (a user's own lines, say).
  std::function<void(FleetAgent&)> before_agent_start;
};

class Deployment {
 public:
  Deployment(Campaign& campaign, DeploymentOptions options);
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // Starts every replica (the first creates the CA and the token), then enrolls and starts the
  // agents.
  absl::Status Start();

  Controller& controller(int i = 0) { return *controllers_[i]; }
  int replicas() const { return static_cast<int>(controllers_.size()); }
  std::vector<std::string> addresses() const;
  std::vector<FleetAgent*> agents();
  FleetAgent& agent(int i) { return *agents_[i]; }
  const ControllerSite& site() const { return site_; }
  const std::string& dir() const { return dir_; }
  const std::string& database() const { return options_.database; }

  // `keyfleet ARGS` through replica `replica`.
  CliResult Cli(const std::string& args, int replica = 0, int limit_seconds = 120);
  // Principal alice with `keys` synthetic keys, granted to account alice on env=prod hosts.
  absl::StatusOr<v1::AddKeysResponse> AddAlice(int keys);
  // A load of `writers` CLI writers over every replica, principals named PREFIX-wW-I.
  LoadOptions Load(const std::string& prefix, int writers) const;

  // Waits (at most `limit`) until every agent holds exactly what the database grants alice;
  // the seconds each took from `since`.
  std::vector<double> WaitAgentsConverged(Clock::time_point since, milliseconds limit);

  // The checks every scenario with a load ends with: what was acknowledged is in the database
  // and no failure that said "nothing was changed" was applied (VerifyLoad of `ops`), the audit
  // chain and its checkpoints verify, and every agent holds what the database grants within
  // 20 s of `stopped_at`; each checked into `report`, with its figure.
  void CheckAfterLoad(const std::vector<LoadOp>& ops, Clock::time_point stopped_at, Report& report);

  // The set-up most scenarios share: Start, AddAlice(keys), and every agent holding alice's
  // keys within 30 s. False, the failure checked into `report`, when any step fails; `alice`
  // (when given) gets the keys added.
  bool StartWithAlice(Report& report, int keys, v1::AddKeysResponse* alice = nullptr);

 private:
  absl::Status StartAll();

  Campaign& campaign_;
  DeploymentOptions options_;
  std::string dir_;
  ControllerSite site_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::vector<std::unique_ptr<FleetAgent>> agents_;
};

}  // namespace keyfleet::faults
