#include "tests/faults/deployment.h"

#include "absl/strings/str_cat.h"
#include "tests/support/admin_setup.h"
#include "tests/support/child_process.h"
#include "tests/support/test_keys.h"

namespace keyfleet::faults {

Deployment::Deployment(Campaign& campaign, DeploymentOptions options)
    : campaign_(campaign),
      options_(std::move(options)),
      dir_(campaign.workspace().NewDir(options_.name)) {
  site_.dir = dir_;
  const int port = testing::FreeLoopbackPort();
  std::vector<std::string> tls_names;
  for (int i = 0; i < options_.replicas; ++i) tls_names.push_back(absl::StrCat("127.0.0.", i + 1));
  for (int i = 0; i < options_.replicas; ++i) {
    ControllerOptions o;
    o.binary = campaign.options().controller_binary;
    o.database = options_.database;
    o.address = absl::StrCat("127.0.0.", i + 1, ":", port);
    o.site = site_;
    o.log = absl::StrCat(dir_, "/controller-", i, ".log");
    o.tls_names = tls_names;
    o.extra_args = options_.controller_args;
    o.open_file_limit = options_.open_file_limit;
    o.prlimit_binary = campaign.options().prlimit_binary;
    controllers_.push_back(std::make_unique<Controller>(std::move(o)));
  }
  for (int i = 0; i < options_.agents; ++i) {
    agents_.push_back(std::make_unique<FleetAgent>(absl::StrCat(options_.name, "-host-", i),
                                                   campaign.options().agent_binary, dir_));
  }
}

Deployment::~Deployment() {
  for (auto& a : agents_) a->Stop();
  for (auto& c : controllers_) c->Stop();
}

absl::Status Deployment::Start() {
  absl::Status s = StartAll();
  if (!s.ok()) campaign_.Progress("set-up failed: " + s.ToString());
  return s;
}

absl::Status Deployment::StartAll() {
  for (auto& c : controllers_) {
    campaign_.Progress("starting controller " + c->address());
    absl::StatusOr<double> up = c->Start();
    if (!up.ok()) return up.status();
  }
  campaign_.Progress(absl::StrCat("enrolling and starting ", agents_.size(), " agents"));
  for (size_t i = 0; i < agents_.size(); ++i) {
    FleetAgent& a = *agents_[i];
    if (absl::Status s = a.Enroll(controller(i % controllers_.size()).admin(), addresses());
        !s.ok()) {
      return s;
    }
    if (options_.before_agent_start) options_.before_agent_start(a);
    if (absl::Status s = a.Start(addresses()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<std::string> Deployment::addresses() const {
  std::vector<std::string> out;
  for (const auto& c : controllers_) out.push_back(c->address());
  return out;
}

std::vector<FleetAgent*> Deployment::agents() {
  std::vector<FleetAgent*> out;
  for (auto& a : agents_) out.push_back(a.get());
  return out;
}

CliResult Deployment::Cli(const std::string& args, int replica, int limit_seconds) {
  return RunCli(campaign_.options().cli_binary, controllers_[replica]->address(), site_, args, dir_,
                limit_seconds);
}

bool Deployment::StartWithAlice(Report& report, int keys, v1::AddKeysResponse* alice) {
  absl::StatusOr<v1::AddKeysResponse> added;
  if (!report.Check(Start().ok() && (added = AddAlice(keys)).ok(),
                    "set-up failed (the reason is on stderr)") ||
      !report.Check(AllConverged(WaitAgentsConverged(Clock::now(), seconds(30))),
                    "the agents did not get alice's keys before the faults")) {
    return false;
  }
  if (alice != nullptr) *alice = *std::move(added);
  return true;
}

absl::StatusOr<v1::AddKeysResponse> Deployment::AddAlice(int keys) {
  std::vector<std::string> lines;
  for (int i = 1; i <= keys; ++i) {
    lines.push_back(testing::SyntheticEd25519Line(i, absl::StrCat("alice-", i)));
  }
  absl::StatusOr<v1::AddKeysResponse> added = testing::AddPrincipalWithGrant(
      controller().admin(), "alice", lines, testing::LabelSelector("env", "prod"), "alice");
  if (!added.ok()) campaign_.Progress("adding alice failed: " + added.status().ToString());
  return added;
}

LoadOptions Deployment::Load(const std::string& prefix, int writers) const {
  LoadOptions o;
  o.cli_binary = campaign_.options().cli_binary;
  o.addresses = addresses();
  o.site = site_;
  o.dir = dir_;
  o.prefix = prefix;
  o.writers = writers;
  return o;
}

std::vector<double> Deployment::WaitAgentsConverged(Clock::time_point since, milliseconds limit) {
  std::set<std::string> expected;
  try {
    expected = GrantedBlobs(options_.database);
  } catch (const std::exception& e) {
    campaign_.Progress(std::string("cannot read the database: ") + e.what());
    return std::vector<double>(agents_.size(), -1);
  }
  return WaitConverged(agents(), expected, since, limit);
}

void Deployment::CheckAfterLoad(const std::vector<LoadOp>& ops, Clock::time_point stopped_at,
                                Report& report) {
  try {
    ReportLoad(VerifyLoad(ops, database()), report);
  } catch (const std::exception& e) {
    report.Check(false, std::string("cannot read the database: ") + e.what());
  }
  CheckAudit(campaign_.options().cli_binary, controller().address(), site(), dir(), report);
  const std::vector<double> converged = WaitAgentsConverged(stopped_at, seconds(20));
  report.Figure(ConvergedFigure(converged) + " after the load");
  report.Check(AllConverged(converged),
               "some agents do not hold what the database grants 20 s after the load");
}

}  // namespace keyfleet::faults
