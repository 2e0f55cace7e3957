// The agent API's logic without gRPC: registering a host when it connects, its desired state,
// its reports and its key uses. Reports and key uses are buffered and written in batches
// (ReportBuffer), so a fleet reporting at once costs a few transactions, not one per host, and
// no gRPC callback thread ever waits for the database.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

// Key uses held between flushes at most: (key, host, account) triples, some 200 bytes each.
// Past it (the database away for long) new triples are dropped and counted in the log; those
// held keep taking newer times.
inline constexpr size_t kMaxPendingKeyUses = 100000;

class ReportBuffer {
 public:
  explicit ReportBuffer(Store& store) : store_(store) {}
  // Keeps the newest report per host until the next Flush. Sessions ended are never lost to a
  // newer report: the reports' counts add up.
  void Add(HostReport report);
  // Keeps the newest use per (fingerprint, host, account) until the next Flush. Returns how
  // many new triples were dropped because kMaxPendingKeyUses are held.
  size_t AddKeyUses(const std::vector<KeyUseRecord>& uses);
  // Writes what is buffered; on failure what was not written stays buffered for the next try.
  absl::Status Flush();

 private:
  // Adds `from`'s sessions ended to `into`'s.
  static void MergeSessionsEnded(const HostReport& from, HostReport& into);
  void KeepKeyUsesLocked(const std::vector<KeyUseRecord>& uses, size_t* dropped);

  Store& store_;
  std::mutex mu_;
  std::map<std::string, HostReport> pending_;
  std::map<std::tuple<std::string, std::string, std::string>, KeyUseRecord> pending_uses_;
};

// What became of one KeyUseReport (AgentHandlers::RecordKeyUses).
struct KeyUseOutcome {
  size_t recorded = 0;        // buffered for the next flush
  size_t unknown_keys = 0;    // keys the inventory does not hold: not recorded
  size_t refused = 0;         // malformed: not recorded
  std::string first_refusal;  // why the first refused one was, "use N: …"
  size_t dropped = 0;         // past kMaxPendingKeyUses
};

class AgentHandlers {
 public:
  AgentHandlers(HandlerContext& ctx, ReportBuffer& reports) : ctx_(ctx), reports_(reports) {}

  // Validates the host's name and labels and registers it (or updates its labels) when the
  // view does not already hold exactly that. Returns its current desired state.
  // It may write to the database: callers on gRPC's callback threads ask NeedsRegistration first
  // and run it elsewhere when true.
  absl::StatusOr<HostDesiredState> Connect(const std::string& hostname, const Labels& labels);
  // True when Connect would register the host or change its labels (a database write); false
  // when the view already holds exactly this host, or the name or labels are invalid (Connect
  // then refuses them at once).
  bool NeedsRegistration(const std::string& hostname, const Labels& labels) const;
  // The host's current desired state; NOT_FOUND for a host that never connected.
  absl::StatusOr<HostDesiredState> DesiredState(const std::string& hostname) const;
  // A page of the fleet's revoked keys (FleetView::RevokedPage) from `offset`, at most
  // kRevocationsPerPage; *next_offset is 0 when the page ends the list.
  // *kill_sessions: those of the page revoked with kill_sessions.
  std::vector<std::string> Revocations(uint64_t offset, uint64_t* total, std::string* epoch,
                                       uint64_t* next_offset,
                                       std::vector<std::string>* kill_sessions = nullptr) const;
  // NOT_FOUND for a host that never connected; INVALID_ARGUMENT for malformed drift JSON. A
  // report from another epoch than the view's is recorded as nothing applied yet (its
  // generation counts in another history), with its drift and files.
  // Sessions ended of a key not revoked with kill_sessions, or with a malformed fingerprint or
  // no count, are left out of the report (and logged); the rest of it stands.
  absl::Status Report(HostReport report);
  // Buffers the uses an agent's KeyUseReport carries for `hostname` (the stream's authenticated
  // host: each use's hostname is set here, whatever it held). Each use must name a SHA256
  // fingerprint, a valid account name, an IP address and a time no older than kMaxKeyUseAge
  // (a time after now is taken as now); the others are refused, counted and described in the
  // outcome. Uses of keys the inventory does not hold are not recorded. NOT_FOUND for a host
  // that never connected.
  absl::StatusOr<KeyUseOutcome> RecordKeyUses(const std::string& hostname,
                                              std::vector<KeyUseRecord> uses);
  // Logs an error when a host says it applied, from this very epoch, a generation the database
  // has not reached: the database went back in time and kept its epoch (restored from a
  // file-level copy), and the agent will ignore every change until the counter catches up.
  void CheckAppliedHistory(const std::string& hostname, const std::string& applied_epoch,
                           uint64_t applied_generation) const;

 private:
  HandlerContext& ctx_;
  ReportBuffer& reports_;
  mutable std::atomic<bool> history_error_logged_{false};  // once, not once per agent
};

}  // namespace keyfleet::controller
