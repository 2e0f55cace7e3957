// PostgreSQL failover end to end. A primary with a synchronous streaming standby (two real,
// private servers: commits wait for the standby), the keyfleet-controller binary given both in one
// multi-host connection string with target_session_attrs=read-write, the keyfleet-agent binary on
// a sandbox host, and writers adding principals, keys and grants through the CLI (each with its
// request id). Mid-load, while one mutation's commit waits for the standby (its WAL receiver
// paused) and the writers queue behind it, the primary is crashed (immediate stop) and the standby
// promoted: after 1 s, within the controller's retry budget (its calls wait, then succeed), and
// after 6 s with a budget of 2 s (its calls fail, honestly). Shown:
//   - a commit the standby has not confirmed is visible to nobody on the primary;
//   - every acknowledged mutation is there afterwards, read through the controller and straight
//     from the new primary, with its request id; a failure that did not say "unknown whether"
//     changed nothing; no request was applied twice (each grant has its own account);
//   - the request caught in its commit by the crash is done exactly once: asked again with its
//     request id after its answer was lost (gRPC), or asked again by the CLI itself after the
//     controller said its outcome was unknown;
//   - the controller takes mutations again within a bound after the promotion (printed);
//   - the audit chain verifies;
//   - the fleet view follows the new primary: its new epoch reaches the agent, and a revocation
//     made after the failover converges there.
// Prints the figures. Labels: postgres, tls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/request_id.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "node-agent/tests/sandbox.h"
#include "tests/support/admin_pages.h"
#include "tests/support/admin_setup.h"
#include "tests/support/admin_token.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/temp_postgres_process.h"
#include "tests/support/temp_postgres_standby.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using agent::testing::Read;
using agent::testing::Sandbox;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// How a failover goes: within the controller's retry budget (its calls wait and succeed), or
// slower (its calls fail, honestly, and the CLI asks again after an unknown outcome).
struct Scenario {
  const char* name;
  const char* retry_budget;              // db_retry_budget; "" for the default (20 s)
  std::chrono::milliseconds leaderless;  // between the crash and the promotion: no primary
  // The request caught in its commit by the crash: sent by the CLI (its first answer is "unknown
  // whether", and it asks again by itself), or over gRPC by this test with a deadline it cannot
  // meet (the answer is lost; the test asks again with the same request id).
  bool caught_by_cli;
};

constexpr int kWriters = 3;
constexpr int kMaxIterations = 400;  // per writer: bounds the load whatever the timing
// Acknowledged mutations before the failover starts.
constexpr size_t kAcknowledgedBefore = 24;
// The controller must take mutations again within this of the promotion.
constexpr auto kResumeBound = seconds(10);
// How long the load goes on once mutations are taken again.
constexpr auto kLoadAfter = milliseconds(2000);
constexpr char kCaughtRequestId[] = "fo-caught-in-commit";
constexpr char kCaughtAccount[] = "caught-in-commit";

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Polls `done` every 20 ms until it holds or `limit` passed; whether it held.
bool WaitFor(const std::function<bool()>& done, milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

// The epoch in the managed block's begin marker of an authorized_keys file ("" when none).
std::string MarkerEpoch(const std::string& file_text) {
  static const std::regex kMarker("# keyfleet:begin epoch=([0-9a-f]{16}) ");
  std::smatch m;
  return std::regex_search(file_text, m, kMarker) ? m[1].str() : "";
}

// One CLI mutation of the load.
struct Op {
  std::string kind;  // "principal", "key", "grant"
  std::string principal;
  std::string account;      // grant: its own account, so a duplicate shows as two grants
  std::string request_id;   // --request-id
  std::string fingerprint;  // key: from the answer
  int exit_code = -1;
  std::string err;  // the CLI's stderr
  Clock::time_point start, end;
  bool acknowledged() const { return exit_code == 0; }
  bool asked_again() const { return absl::StrContains(err, "asking again"); }
  bool outcome_unknown() const { return absl::StrContains(err, "unknown whether"); }
};

// What the new primary holds, read straight from it.
struct Stored {
  std::set<std::string> principals;
  std::map<std::string, std::string> key_owner;  // fingerprint -> principal
  std::map<std::string, int> keys_of;            // principal -> keys
  std::map<std::string, int> grants_of_account;
  std::set<std::string> request_ids;
  std::string epoch;
};

Stored ReadStored(const std::string& url) {
  Stored s;
  pqxx::connection conn(url);
  pqxx::nontransaction txn(conn);
  for (const pqxx::row& r : txn.exec("SELECT name FROM principals")) {
    s.principals.insert(r[0].as<std::string>());
  }
  for (const pqxx::row& r : txn.exec(
           "SELECT k.fingerprint, p.name FROM keys k JOIN principals p ON p.id = k.principal_id")) {
    s.key_owner[r[0].as<std::string>()] = r[1].as<std::string>();
    ++s.keys_of[r[1].as<std::string>()];
  }
  for (const pqxx::row& r : txn.exec("SELECT account, count(*) FROM grants GROUP BY account")) {
    s.grants_of_account[r[0].as<std::string>()] = r[1].as<int>();
  }
  for (const pqxx::row& r : txn.exec("SELECT request_id FROM request_outcomes")) {
    s.request_ids.insert(r[0].as<std::string>());
  }
  s.epoch = txn.exec1("SELECT keyfleet_database_epoch()")[0].as<std::string>();
  return s;
}

class PostgresFailover : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    database_ = primary_.CreateDatabase();
    standby_ = std::make_unique<TempPostgresStandby>(primary_);
    url_ = FailoverUrl(primary_, *standby_, database_);
    address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    controller_log_ = Path("controller.log");
    std::vector<std::string> argv = {KEYFLEET_CONTROLLER,
                                     "--db",
                                     url_,
                                     "--listen",
                                     address_,
                                     "--ca-dir",
                                     Path("ca"),
                                     "--tls-name",
                                     "127.0.0.1",
                                     "--bootstrap-token-file",
                                     Path("bootstrap.token"),
                                     "--log-level",
                                     "info"};
    if (*GetParam().retry_budget != '\0') {
      std::ofstream(Path("controller.yaml"))
          << "db_retry_budget: " << GetParam().retry_budget << "\n";
      argv.insert(argv.end(), {"--config", Path("controller.yaml")});
    }
    controller_ = SpawnProcess(argv, controller_log_);
    ASSERT_GT(controller_, 0);
    ASSERT_TRUE(WaitFor([&] { return Cli("principal list").exit_code == 0; }, seconds(30)))
        << "the controller did not come up:\n"
        << Tail(controller_log_);
    absl::StatusOr<std::string> token = ReadTokenFile(Path("bootstrap.token"));
    ASSERT_TRUE(token.ok()) << token.status();
    admin_ = v1::AdminService::NewStub(TokenTlsChannel(address_, Read(Path("ca/ca.crt")), *token));
  }

  void TearDown() override {
    if (agent_ > 0) StopProcess(agent_);
    if (controller_ > 0) StopProcess(controller_);
  }

  std::string Path(const std::string& name) const { return dir_.path().string() + "/" + name; }

  // `keyfleet ARGS` as the bootstrap admin; stdout in .out, stderr in `err` when given.
  CommandResult Cli(const std::string& args, std::string* err = nullptr) {
    const std::string err_file = Path(absl::StrCat("cli-", next_cli_++, ".err"));
    CommandResult r = RunCommand(
        absl::StrCat("env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE HOME=/nonexistent ",
                     KEYFLEET_CLI, " --controller ", address_, " --ca ", Path("ca/ca.crt"),
                     " --token-file ", Path("bootstrap.token"), " ", args, " 2>", err_file));
    if (err != nullptr) *err = Read(err_file);
    return r;
  }

  // Enrolls host web-0 (env=prod) and starts the keyfleet-agent binary on the sandbox.
  void StartAgent() {
    grpc::ClientContext ctx;
    v1::CreateHostTokenRequest req;
    req.set_hostname("web-0");
    (*req.mutable_labels())["env"] = "prod";
    v1::CreateHostTokenResponse resp;
    grpc::Status s = admin_->CreateHostToken(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::string token_file = Path("join.token");
    std::ofstream(token_file) << resp.token();
    CommandResult enrolled = RunCommand(absl::StrCat(
        KEYFLEET_AGENT, " enroll --controller ", address_, " --token-file ", token_file,
        " --ca-hash ", resp.ca_pin(), " --tls-dir ", host_.Path("tls"), " --timeout 10s 2>&1"));
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    agent_log_ = Path("agent.log");
    agent_ = SpawnProcess(
        {KEYFLEET_AGENT, "run", "--controller", address_, "--tls-dir", host_.Path("tls"), "--root",
         host_.root(), "--cache", host_.Path("agent-cache"), "--recheck-interval", "5s"},
        agent_log_);
    ASSERT_GT(agent_, 0);
  }
  std::string AgentFile() const { return Read(host_.Path("home/alice/.ssh/authorized_keys")); }

  // One writer's load: principal, key, grant, again and again, until `stop_` (or
  // kMaxIterations); waits while `paused_`, and counts itself in `in_flight_` while it calls.
  void Write(int writer) {
    for (int i = 0; i < kMaxIterations && !stop_; ++i) {
      const std::string principal = absl::StrCat("lp-w", writer, "-", i);
      const std::string key_file = Path(principal + ".pub");
      std::ofstream(key_file) << SyntheticEd25519Line(100000 + 1000 * writer + i, principal)
                              << "\n";
      const std::string account = absl::StrCat("a-w", writer, "-", i);
      const std::vector<std::pair<std::string, std::string>> steps = {
          {"principal", "principal add " + principal},
          {"key", "key add " + principal + " " + key_file},
          {"grant", "grant add " + principal + " --hosts env=load --account " + account}};
      for (const auto& [kind, command] : steps) {
        if (!Enter()) return;
        Op op;
        op.kind = kind;
        op.principal = principal;
        op.account = kind == "grant" ? account : "";
        op.request_id = absl::StrCat("fo-w", writer, "-", i, "-", kind);
        op.start = Clock::now();
        CommandResult r =
            Cli(absl::StrCat("-o json --request-id ", op.request_id, " ", command), &op.err);
        op.end = Clock::now();
        op.exit_code = r.exit_code;
        if (kind == "key" && op.acknowledged()) {
          nlohmann::json answer = nlohmann::json::parse(r.out, nullptr, false);
          if (answer.is_object() && answer["keys"].is_array() && !answer["keys"].empty()) {
            op.fingerprint = answer["keys"][0].value("fingerprint", "");
          }
        }
        --in_flight_;
        const bool acknowledged = op.acknowledged();
        {
          std::lock_guard<std::mutex> lock(ops_mu_);
          ops_.push_back(std::move(op));
        }
        if (!acknowledged && kind == "principal") break;  // its key and grant would be refused
      }
    }
  }
  // Counts the caller in (false once stopped); waits while paused. Counted before it looks at
  // `paused_`, so a pauser that sees no one in flight sees no one start.
  bool Enter() {
    for (;;) {
      if (stop_) return false;
      ++in_flight_;
      if (!paused_) return true;
      --in_flight_;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  size_t Acknowledged() {
    std::lock_guard<std::mutex> lock(ops_mu_);
    return std::count_if(ops_.begin(), ops_.end(), [](const Op& o) { return o.acknowledged(); });
  }
  // The end of the first acknowledged mutation that ended after `t`.
  std::optional<Clock::time_point> FirstAcknowledgedAfter(Clock::time_point t) {
    std::lock_guard<std::mutex> lock(ops_mu_);
    std::optional<Clock::time_point> first;
    for (const Op& o : ops_) {
      if (o.acknowledged() && o.end > t && (!first || o.end < *first)) first = o.end;
    }
    return first;
  }

  // The CLI command of the request caught in its commit.
  static std::string CaughtCommand() {
    return absl::StrCat("-o json --request-id ", kCaughtRequestId,
                        " grant add alice --hosts env=load --account ", kCaughtAccount);
  }
  // The same request over gRPC (the same content and id), with a deadline.
  grpc::Status AddCaughtGrant(milliseconds deadline, bool* replayed) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    ctx.AddMetadata(kRequestIdMetadata, kCaughtRequestId);
    v1::AddGrantRequest req;
    req.mutable_grant()->set_principal("alice");
    (*req.mutable_grant()->mutable_hosts()->mutable_labels())["env"] = "load";
    req.mutable_grant()->set_account(kCaughtAccount);
    v1::AddGrantResponse resp;
    grpc::Status s = admin_->AddGrant(&ctx, req, &resp);
    if (replayed != nullptr) {
      auto it = ctx.GetServerTrailingMetadata().find(kRequestReplayedMetadata);
      *replayed = it != ctx.GetServerTrailingMetadata().end() && it->second == "1";
    }
    return s;
  }

  // On the primary: how many backends wait for the synchronous standby, whether one of them
  // holds the inventory lock (a mutation's commit, not a background write), and whether the
  // caught request's outcome is visible there.
  struct PrimaryView {
    int waiting = -1;
    bool mutation_waiting = false;
    bool caught_visible = false;
  };
  PrimaryView LookAtPrimary() {
    PrimaryView v;
    try {
      pqxx::connection conn(primary_.Url(database_));
      pqxx::nontransaction txn(conn);
      v.waiting = txn.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")[0]
                      .as<int>();
      v.mutation_waiting =
          txn.exec1(
                 "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                 "WHERE a.wait_event = 'SyncRep' AND l.locktype = 'advisory' AND l.granted")[0]
              .as<int>() > 0;
      v.caught_visible = !txn.exec_params("SELECT 1 FROM request_outcomes WHERE request_id = $1",
                                          std::string(kCaughtRequestId))
                              .empty();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot look at the primary: " << e.what();
    }
    return v;
  }

  static std::string Tail(const std::string& path) {
    const std::string text = Read(path);
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

  TempPostgres primary_;
  std::unique_ptr<TempPostgresStandby> standby_;
  ScopedTempDir dir_{"kf-pg-failover"};
  Sandbox host_;
  // Removes these directories if the test process is killed (the servers have their own
  // watchdogs; the controller and the agent get SIGTERM when it dies).
  struct DirsWatchdog {
    explicit DirsWatchdog(const std::string& cleanup) : pipe(StartPostgresWatchdog(cleanup)) {}
    ~DirsWatchdog() { StopPostgresWatchdog(pipe); }
    int pipe;
  } dirs_watchdog_{"rm -rf " + dir_.path().string() + " " + host_.root()};
  std::string database_;
  std::string url_;
  std::string address_;
  std::string controller_log_;
  std::string agent_log_;
  pid_t controller_ = -1;
  pid_t agent_ = -1;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::atomic<int> next_cli_{0};

  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> in_flight_{0};
  std::mutex ops_mu_;
  std::vector<Op> ops_;
};

TEST_P(PostgresFailover, PromotedStandbyLosesNoAcknowledgedMutationAndTheFleetFollowsIt) {
  const auto test_start = Clock::now();
  std::printf("[%s] controller database: %s\n", GetParam().name, url_.c_str());

  // alice's two keys on every env=prod host; the agent's host is one.
  const std::vector<std::string> alice = {SyntheticEd25519Line(1, "alice-1"),
                                          SyntheticEd25519Line(2, "alice-2")};
  absl::StatusOr<v1::AddKeysResponse> added =
      AddPrincipalWithGrant(*admin_, "alice", alice, LabelSelector("env", "prod"), "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  auto blob = [&](int i) { return alice[i].substr(12, 68); };
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string f = AgentFile();
        return absl::StrContains(f, blob(0)) && absl::StrContains(f, blob(1));
      },
      seconds(20)))
      << "the agent did not write alice's keys\n"
      << Tail(agent_log_);
  const std::string epoch_before = MarkerEpoch(AgentFile());
  ASSERT_FALSE(epoch_before.empty()) << AgentFile();

  // The load.
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back([this, w] { Write(w); });
  // The writers stop however the test ends.
  struct StopWriters {
    std::atomic<bool>* stop;
    std::vector<std::thread>* writers;
    ~StopWriters() {
      *stop = true;
      for (std::thread& t : *writers) {
        if (t.joinable()) t.join();
      }
    }
  } stop_writers{&stop_, &writers};
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() >= kAcknowledgedBefore; }, seconds(30)))
      << "the load did not get going: " << Acknowledged() << " acknowledged\n"
      << Tail(controller_log_);

  // One mutation's commit left waiting for the standby: the writers pause, the standby's WAL
  // receiver stops, and the caught request goes in. Over gRPC its deadline passes meanwhile (the
  // answer is lost); the CLI waits for its answer.
  const Scenario& scenario = GetParam();
  paused_ = true;
  ASSERT_TRUE(WaitFor([&] { return in_flight_ == 0; }, seconds(30)));
  // Joined after the WAL receiver is resumed (destroyed in reverse order), however this ends.
  CommandResult caught_result;
  std::string caught_err;
  std::thread caught_by_cli;
  struct JoinCaught {
    std::thread* t;
    ~JoinCaught() {
      if (t->joinable()) t->join();
    }
  } join_caught{&caught_by_cli};
  const pid_t receiver = standby_->WalReceiverPid();
  ASSERT_GT(receiver, 0) << "the standby is not streaming";
  ASSERT_EQ(kill(receiver, SIGSTOP), 0);
  struct ResumeReceiver {
    pid_t pid;
    ~ResumeReceiver() { kill(pid, SIGCONT); }
  } resume_receiver{receiver};
  if (scenario.caught_by_cli) {
    caught_by_cli = std::thread([&] { caught_result = Cli(CaughtCommand(), &caught_err); });
  } else {
    const grpc::Status lost = AddCaughtGrant(milliseconds(1500), nullptr);
    EXPECT_EQ(lost.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << lost.error_message();
    // Well past its deadline the commit must still wait: a deadline that ended the wait for the
    // standby would make it visible with only the primary having it.
    std::this_thread::sleep_for(milliseconds(1000));
  }
  PrimaryView at_crash;
  WaitFor(
      [&] {
        at_crash = LookAtPrimary();
        return at_crash.mutation_waiting || at_crash.caught_visible;
      },
      seconds(10));
  // Only the primary has it: nobody may be told it is done.
  EXPECT_FALSE(at_crash.caught_visible)
      << "a commit the synchronous standby has not confirmed is visible on the primary";
  ASSERT_TRUE(at_crash.mutation_waiting) << "no mutation's commit waits for the standby";
  // The writers queue behind that commit (it holds the inventory lock).
  paused_ = false;
  std::this_thread::sleep_for(milliseconds(500));

  // Crash the primary, let the standby take what was sent to it, promote it after a while.
  const size_t acknowledged_at_crash = Acknowledged();
  const auto crashed_at = Clock::now();
  primary_.Stop(/*immediate=*/true);
  kill(receiver, SIGCONT);
  std::this_thread::sleep_for(scenario.leaderless);
  const auto promoting_at = Clock::now();
  standby_->Promote();
  const auto promoted_at = Clock::now();
  // When the agent's file first carries another epoch than before (polled, 20 s at most).
  std::optional<Clock::time_point> agent_epoch_changed;
  std::thread epoch_watch([&] {
    WaitFor(
        [&] {
          const std::string epoch = MarkerEpoch(AgentFile());
          if (epoch.empty() || epoch == epoch_before) return false;
          agent_epoch_changed = Clock::now();
          return true;
        },
        seconds(20));
  });
  struct JoinWatch {
    std::thread* t;
    ~JoinWatch() {
      if (t->joinable()) t->join();
    }
  } join_watch{&epoch_watch};
  std::printf(
      "[%s] primary crashed with %d commit(s) waiting for the standby and %zu mutations "
      "acknowledged; standby promoted %.3f s later (pg_ctl promote took %.3f s)\n",
      scenario.name, at_crash.waiting, acknowledged_at_crash,
      SecondsBetween(crashed_at, promoted_at), SecondsBetween(promoting_at, promoted_at));

  std::optional<Clock::time_point> resumed;
  ASSERT_TRUE(WaitFor([&] { return (resumed = FirstAcknowledgedAfter(promoted_at)).has_value(); },
                      kResumeBound))
      << "no mutation acknowledged within " << kResumeBound.count() << " s of the promotion\n"
      << Tail(controller_log_);
  const double resume_seconds = SecondsBetween(promoted_at, *resumed);
  std::this_thread::sleep_for(kLoadAfter);
  stop_ = true;
  for (std::thread& t : writers) t.join();

  // The caught request, answered or asked again with its request id: done once.
  const char* caught_outcome = "";
  if (scenario.caught_by_cli) {
    caught_by_cli.join();
    EXPECT_EQ(caught_result.exit_code, 0) << caught_err;
    EXPECT_THAT(caught_err, ::testing::HasSubstr("unknown whether"));
    EXPECT_THAT(caught_err, ::testing::HasSubstr("asking again"));
    caught_outcome =
        "its CLI was told the outcome is unknown, asked again with the same request id, and "
        "was answered with the outcome; its stderr:";
  } else {
    bool replayed = false;
    const grpc::Status again = AddCaughtGrant(milliseconds(30000), &replayed);
    EXPECT_TRUE(again.ok()) << again.error_message();
    caught_outcome = replayed ? "its answer was lost; asked again with the same request id, it "
                                "was answered from the ledger (the commit had reached the "
                                "standby)"
                              : "its answer was lost; asked again with the same request id, it "
                                "was done then (the commit had not reached the standby)";
  }
  std::printf("[%s] the request caught in its commit: %s\n", scenario.name, caught_outcome);
  for (absl::string_view line : absl::StrSplit(caught_err, '\n', absl::SkipEmpty())) {
    std::printf("[%s]   %.*s\n", scenario.name,
                static_cast<int>(std::min<size_t>(line.size(), 240)), line.data());
  }

  // What the controller serves (from its view) and what the new primary holds.
  v1::ListPrincipalsResponse principals;
  ASSERT_TRUE(ListAllPages(*admin_, &v1::AdminService::Stub::ListPrincipals,
                           v1::ListPrincipalsRequest(), &principals)
                  .ok());
  std::set<std::string> served_principals;
  for (const v1::Principal& p : principals.principals()) served_principals.insert(p.name());
  v1::ListKeysResponse keys;
  ASSERT_TRUE(
      ListAllPages(*admin_, &v1::AdminService::Stub::ListKeys, v1::ListKeysRequest(), &keys).ok());
  std::set<std::string> served_keys;
  for (const v1::Key& k : keys.keys()) served_keys.insert(k.fingerprint());
  v1::ListGrantsResponse grants;
  ASSERT_TRUE(
      ListAllPages(*admin_, &v1::AdminService::Stub::ListGrants, v1::ListGrantsRequest(), &grants)
          .ok());
  std::map<std::string, int> served_grants_of_account;
  for (const v1::Grant& g : grants.grants()) ++served_grants_of_account[g.account()];
  const Stored stored = ReadStored(standby_->Url(database_));

  auto stored_grants = [&](const std::string& account) {
    auto it = stored.grants_of_account.find(account);
    return it == stored.grants_of_account.end() ? 0 : it->second;
  };
  EXPECT_EQ(stored_grants(kCaughtAccount), 1);
  EXPECT_EQ(served_grants_of_account[kCaughtAccount], 1);
  EXPECT_TRUE(stored.request_ids.count(kCaughtRequestId));
  size_t acknowledged = 0, failed = 0, found = 0, unknown_applied = 0, asked_again = 0;
  double slowest = 0;
  std::map<std::string, int> failures;
  for (const Op& op : ops_) {
    SCOPED_TRACE(op.request_id + ": " + op.err);
    asked_again += op.asked_again() ? 1 : 0;
    if (op.start < promoted_at && op.end > crashed_at) {
      slowest = std::max(slowest, SecondsBetween(op.start, op.end));
    }
    if (op.kind == "grant") {  // never twice, acknowledged or not
      EXPECT_LE(stored_grants(op.account), 1) << "applied twice";
      EXPECT_LE(served_grants_of_account[op.account], 1) << "applied twice";
    }
    bool present = false;
    if (op.kind == "principal") {
      present = stored.principals.count(op.principal) > 0;
      EXPECT_EQ(served_principals.count(op.principal) > 0, present) << "view and database differ";
    } else if (op.kind == "key") {
      present = stored.keys_of.count(op.principal) > 0;
      if (op.acknowledged()) {
        EXPECT_TRUE(stored.key_owner.count(op.fingerprint)) << op.fingerprint;
        EXPECT_TRUE(served_keys.count(op.fingerprint)) << op.fingerprint;
      }
    } else {
      present = stored_grants(op.account) > 0;
      EXPECT_EQ(served_grants_of_account[op.account] > 0, present) << "view and database differ";
    }
    if (op.acknowledged()) {
      ++acknowledged;
      EXPECT_TRUE(present) << "an acknowledged mutation was lost";
      EXPECT_TRUE(stored.request_ids.count(op.request_id)) << "its request id was not recorded";
      if (present) ++found;
      continue;
    }
    ++failed;
    ++failures[op.err.substr(0, op.err.find('\n')).substr(0, 120)];
    if (op.outcome_unknown()) {
      if (present) ++unknown_applied;
    } else {
      // A refusal says nothing was changed: it must be true.
      EXPECT_FALSE(present) << "a mutation reported as failed was applied";
    }
  }
  EXPECT_EQ(found, acknowledged);

  // The audit chain, through the controller.
  std::string verify_err;
  CommandResult verified = Cli("audit verify", &verify_err);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verify_err;
  EXPECT_THAT(verified.out, ::testing::HasSubstr("audit log intact"));

  // The view follows the new primary: its epoch is new, and reaches the agent.
  EXPECT_NE(stored.epoch, epoch_before) << "a promotion starts a new WAL timeline, so a new epoch";
  epoch_watch.join();
  const bool agent_followed = MarkerEpoch(AgentFile()) == stored.epoch;
  EXPECT_TRUE(agent_followed) << "the agent holds epoch " << MarkerEpoch(AgentFile())
                              << ", the new primary's is " << stored.epoch << "\n"
                              << Tail(controller_log_);
  EXPECT_THAT(Read(controller_log_), ::testing::HasSubstr("loading the fleet view again"));

  // A revocation after the failover converges on the agent (--wait: its rollout).
  const auto revoke_at = Clock::now();
  std::string revoke_err;
  CommandResult revoked = Cli(absl::StrCat("key revoke ", added->keys(0).fingerprint(),
                                           " --reason after-failover --wait --timeout 20s"),
                              &revoke_err);
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out << revoke_err;
  EXPECT_TRUE(WaitFor([&] { return !absl::StrContains(AgentFile(), blob(0)); }, seconds(10)))
      << AgentFile();
  const double revoke_seconds = SecondsBetween(revoke_at, Clock::now());
  EXPECT_THAT(AgentFile(), ::testing::HasSubstr(blob(1)));
  EXPECT_EQ(MarkerEpoch(AgentFile()), stored.epoch);

  const char* name = GetParam().name;
  std::printf(
      "[%s] figures: %zu mutations acknowledged, %zu found on the new primary and through the "
      "controller; %zu failed (%zu of them applied, reported as outcome unknown); the CLI asked "
      "again %zu times\n",
      name, acknowledged, found, failed, unknown_applied, asked_again);
  for (const auto& [message, count] : failures) {
    std::printf("[%s]   failed %dx: %s\n", name, count, message.c_str());
  }
  std::printf(
      "[%s] resumed: first mutation acknowledged %.3f s after the promotion (%.3f s after the "
      "crash); slowest mutation across the failover %.3f s\n",
      name, resume_seconds, SecondsBetween(crashed_at, *resumed), slowest);
  std::printf(
      "[%s] epoch %s -> %s; the agent's file on the new epoch %.3f s after the promotion; revoke "
      "after failover converged in "
      "%.3f s; test took %.1f s\n",
      name, epoch_before.c_str(), stored.epoch.c_str(),
      agent_epoch_changed ? SecondsBetween(promoted_at, *agent_epoch_changed) : -1.0,
      revoke_seconds, SecondsBetween(test_start, Clock::now()));
}

INSTANTIATE_TEST_SUITE_P(
    Failovers, PostgresFailover,
    ::testing::Values(Scenario{"WithinTheRetryBudget", "", milliseconds(1000), false},
                      Scenario{"SlowerThanTheRetryBudget", "2s", milliseconds(6000), true}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace keyfleet::testing
