#include "controller/handlers/agent_handlers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/host_selector.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {

void ReportBuffer::Add(HostReport report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = pending_[report.hostname];
  if (slot.hostname.empty() || slot.applied_generation <= report.applied_generation) {
    slot = std::move(report);
  }
}

absl::Status ReportBuffer::Flush() {
  std::vector<HostReport> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, report] : pending_) batch.push_back(std::move(report));
    pending_.clear();
  }
  absl::Status status = store_.RecordHostReports(batch);
  if (!status.ok()) {
    // Kept for the next flush, unless the host reported again meanwhile: that report is newer
    // (the same generation can carry newer files: an expiry, a user's own key).
    std::lock_guard<std::mutex> lock(mu_);
    for (HostReport& report : batch) pending_.try_emplace(report.hostname, std::move(report));
  }
  return status;
}

absl::StatusOr<HostDesiredState> AgentHandlers::Connect(const std::string& hostname,
                                                        const Labels& labels) {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  KF_RETURN_IF_ERROR(ValidateLabels(labels));
  std::optional<HostRecord> known = ctx_.view.FindHost(hostname);
  if (!known || known->labels != labels) {
    KF_ASSIGN_OR_RETURN(
        uint64_t change,
        ctx_.store.RegisterHost({absl::StrCat("host:", hostname), ctx_.Now()}, hostname, labels));
    if (change != 0) KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(change));
  }
  return DesiredState(hostname);
}

bool AgentHandlers::NeedsRegistration(const std::string& hostname, const Labels& labels) const {
  if (!ValidateHostname(hostname).ok() || !ValidateLabels(labels).ok()) return false;
  std::optional<HostRecord> known = ctx_.view.FindHost(hostname);
  return !known || known->labels != labels;
}

absl::StatusOr<HostDesiredState> AgentHandlers::DesiredState(const std::string& hostname) const {
  std::optional<HostDesiredState> state = ctx_.view.DesiredState(hostname);
  if (!state) {
    return absl::NotFoundError(
        absl::StrCat("host \"", hostname, "\" is not registered; it registers when it Watches"));
  }
  return *state;
}

absl::Status AgentHandlers::Report(HostReport report) {
  KF_RETURN_IF_ERROR(ValidateHostname(report.hostname));
  if (!ctx_.view.FindHost(report.hostname)) {
    return absl::NotFoundError(
        absl::StrCat("host \"", report.hostname, "\" is not registered; Watch before reporting"));
  }
  if (!nlohmann::json::accept(report.drift_json)) {
    return absl::InvalidArgumentError("drift must be a JSON array");
  }
  if (!report.applied_epoch.empty() && report.applied_epoch != ctx_.view.epoch()) {
    report.applied_generation = 0;
    report.applied_digest.clear();
  }
  report.at = ctx_.Now();
  reports_.Add(std::move(report));
  return absl::OkStatus();
}

void AgentHandlers::CheckAppliedHistory(const std::string& hostname,
                                        const std::string& applied_epoch,
                                        uint64_t applied_generation) const {
  const std::string epoch = ctx_.view.epoch();
  const uint64_t sequence = ctx_.view.sequence();
  if (applied_epoch != epoch || applied_generation <= sequence) return;
  if (history_error_logged_.exchange(true)) {
    spdlog::debug("host {} applied generation {} of epoch {}; the database is at {}", hostname,
                  applied_generation, epoch, sequence);
    return;
  }
  spdlog::error(
      "host {} applied generation {} of database epoch {}, but the database's newest change is "
      "{}: it went back in time and kept its epoch (restored from a file-level copy?). Agents "
      "ignore every change until the count passes {}: run `keyfleet-controller new-epoch` and "
      "restart every replica",
      hostname, applied_generation, epoch, sequence, applied_generation);
}

}  // namespace keyfleet::controller
