// Mutation load through the real CLI, and the check of what it left in the database.
//
// Each writer thread repeats: `principal add P`, `key add P FILE` (one key of its own), `grant add
// P --hosts env=prod --account alice` — so every agent's file grows with the load — each with a
// request id of its own (`--request-id`). What the CLI said about each is kept; VerifyLoad then
// reads the database: every acknowledged mutation must be there (with its request id in the
// ledger), a failure that did not say the outcome is unknown must have left nothing, and nothing
// may be there twice.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/faults/fleet.h"
#include "tests/faults/harness.h"

namespace keyfleet::faults {

struct LoadOp {
  std::string kind;  // "principal", "key", "grant"
  std::string principal;
  std::string request_id;
  std::string address;  // the controller it was sent to
  int exit_code = -1;
  std::string err;  // the CLI's stderr
  Clock::time_point start, end;
  bool acknowledged() const { return exit_code == 0; }
  // The CLI said it cannot know whether the change was applied (the database lost mid-commit).
  bool outcome_unknown() const;
  // The CLI asked again with the same request id after a lost answer.
  bool asked_again() const;
};

struct LoadOptions {
  std::string cli_binary;
  std::vector<std::string> addresses;  // each op goes to the next in turn
  ControllerSite site;
  std::string dir;     // key files and CLI stderr
  std::string prefix;  // principals PREFIX-wW-I, request ids PREFIX-wW-I-KIND
  int writers = 3;
  int max_iterations = 500;     // per writer: the load is bounded whatever the timing
  uint64_t key_base = 1000000;  // synthetic key numbers start here
};

class MutationLoad {
 public:
  explicit MutationLoad(LoadOptions options) : options_(std::move(options)) {}
  ~MutationLoad() { Stop(); }
  MutationLoad(const MutationLoad&) = delete;
  MutationLoad& operator=(const MutationLoad&) = delete;

  void Start();
  // Stops the writers after their current call and joins them.
  void Stop();
  // Writers wait (before their next call) while paused.
  void Pause(bool paused) { paused_ = paused; }
  // Calls under way now.
  int InFlight() const { return in_flight_; }

  size_t Sent();
  size_t Acknowledged();
  // The end of the first acknowledged mutation that started after `t` (so it was answered by
  // whatever came after t), if any.
  std::optional<Clock::time_point> FirstAcknowledgedStartedAfter(Clock::time_point t);
  std::vector<LoadOp> ops();

 private:
  void Write(int writer);

  LoadOptions options_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> next_address_{0};
  std::mutex mu_;
  std::vector<LoadOp> ops_;  // guarded by mu_
};

struct LoadFigures {
  size_t sent = 0;
  size_t acknowledged = 0;
  size_t acknowledged_found = 0;
  size_t acknowledged_without_ledger = 0;  // acknowledged, but its request id is not recorded
  size_t failed = 0;
  size_t failed_absent = 0;
  size_t failed_present = 0;   // failed, yet applied: allowed only when it said "unknown whether"
  size_t unknown = 0;          // failed saying the outcome is unknown (applied or not)
  size_t unknown_present = 0;  // of those, applied
  size_t asked_again = 0;      // the CLI asked again with the same request id
  size_t duplicates = 0;       // a principal, key or grant there twice, or audited twice
  std::map<std::string, int> failure_messages;  // first line of each failure's stderr, counted
  std::vector<std::string> problems;            // one line per broken invariant (first 10)

  // "mutations sent 400, acknowledged 391, acknowledged found 391/391, failed 9 (absent 9,
  // present 0, outcome unknown 0), asked again 3, duplicates 0"
  std::string Figure() const;
  bool ok() const;
  // Adds another run's figures (one per round, each against its own database).
  void Add(const LoadFigures& other);
};

// Reads the database at `database_url` (throws when it cannot) and checks `ops` against it.
LoadFigures VerifyLoad(const std::vector<LoadOp>& ops, const std::string& database_url);

// Adds the invariants of `figures` to `report` (and their figure and failure messages).
void ReportLoad(const LoadFigures& figures, Report& report);

struct AuditCheck {
  bool intact = false;
  std::string detail;  // "45 events chained, 45 signed checkpoints verified", or what failed
};
// `keyfleet audit verify` through `address`: intact when the chain and every checkpoint verify.
AuditCheck VerifyAudit(const std::string& cli_binary, const std::string& address,
                       const ControllerSite& site, const std::string& err_dir);
// The same, adding "audit chain intact (…)" or the broken invariant to `report`.
void CheckAudit(const std::string& cli_binary, const std::string& address,
                const ControllerSite& site, const std::string& err_dir, Report& report);

}  // namespace keyfleet::faults
