// The agent API's logic without gRPC: registering a host when it connects, its desired state,
// and its reports. Reports are buffered and written in batches (ReportBuffer), so a fleet
// reporting at once costs a few transactions, not one per host.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

class ReportBuffer {
 public:
  explicit ReportBuffer(Store& store) : store_(store) {}
  // Keeps the newest report per host until the next Flush.
  void Add(HostReport report);
  // Writes what is buffered; on failure the reports stay buffered for the next try.
  absl::Status Flush();

 private:
  Store& store_;
  std::mutex mu_;
  std::map<std::string, HostReport> pending_;
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
  // NOT_FOUND for a host that never connected; INVALID_ARGUMENT for malformed drift JSON. A
  // report from another epoch than the view's is recorded as nothing applied yet (its
  // generation counts in another history), with its drift and files.
  absl::Status Report(HostReport report);
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
