#include "controller/handlers/agent_handlers.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "common/key_use_limits.h"
#include "common/revocation_limits.h"
#include "common/sha256_fingerprint.h"
#include "common/source_address_match.h"
#include "common/status_macros.h"
#include "controller/host_selector.h"
#include "controller/inventory_validation.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// A use as a KeyUseReport may carry it; its time is clamped to `now` when later.
absl::Status ValidateKeyUse(KeyUseRecord& use, absl::Time now) {
  if (absl::StatusOr<std::string> digest = Sha256FingerprintDigest(use.fingerprint); !digest.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("fingerprint: ", digest.status().message()));
  }
  if (absl::Status account = ValidateAccountName(use.account, /*allow_root=*/true); !account.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("account: ", account.message()));
  }
  absl::StatusOr<SourceAddress> address = ParseSourceAddress(use.from_address);
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("from_address: ", address.status().message()));
  }
  use.from_address = address->text;
  if (use.last_used == absl::InfinitePast()) {
    return absl::InvalidArgumentError("last_used is not set");
  }
  if (use.last_used < now - kMaxKeyUseAge) {
    return absl::InvalidArgumentError(absl::StrCat(
        "last_used ", absl::FormatTime(use.last_used), " is more than ",
        absl::ToInt64Hours(kMaxKeyUseAge) / 24, " days ago (is the host's clock right?)"));
  }
  use.last_used = std::min(use.last_used, now);  // a host's clock ahead of ours
  return absl::OkStatus();
}

}  // namespace

void ReportBuffer::MergeSessionsEnded(const HostReport& from, HostReport& into) {
  for (const SessionsEndedCount& ended : from.sessions_ended) {
    auto same = std::find_if(
        into.sessions_ended.begin(), into.sessions_ended.end(),
        [&](const SessionsEndedCount& e) { return e.fingerprint == ended.fingerprint; });
    if (same == into.sessions_ended.end()) {
      into.sessions_ended.push_back(ended);
    } else {
      same->count += ended.count;
    }
  }
}

void ReportBuffer::Add(HostReport report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = pending_[report.hostname];
  if (slot.hostname.empty() || slot.applied_generation <= report.applied_generation) {
    MergeSessionsEnded(slot, report);
    slot = std::move(report);
  } else {
    MergeSessionsEnded(report, slot);  // an older report's state is dropped, never its counts
  }
}

void ReportBuffer::KeepKeyUsesLocked(const std::vector<KeyUseRecord>& uses, size_t* dropped) {
  for (const KeyUseRecord& use : uses) {
    auto key = std::make_tuple(use.fingerprint, use.hostname, use.account);
    auto it = pending_uses_.find(key);
    if (it == pending_uses_.end()) {
      if (pending_uses_.size() >= kMaxPendingKeyUses) {
        ++*dropped;
        continue;
      }
      pending_uses_.emplace(std::move(key), use);
    } else if (it->second.last_used < use.last_used) {
      it->second = use;
    }
  }
}

size_t ReportBuffer::AddKeyUses(const std::vector<KeyUseRecord>& uses) {
  size_t dropped = 0;
  std::lock_guard<std::mutex> lock(mu_);
  KeepKeyUsesLocked(uses, &dropped);
  return dropped;
}

absl::Status ReportBuffer::Flush() {
  std::vector<HostReport> batch;
  std::vector<KeyUseRecord> uses;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, report] : pending_) batch.push_back(std::move(report));
    pending_.clear();
    for (auto& [key, use] : pending_uses_) uses.push_back(std::move(use));
    pending_uses_.clear();
  }
  absl::Status status = store_.RecordHostReports(batch);
  if (!status.ok()) {
    // Kept for the next flush, unless the host reported again meanwhile: that report is newer
    // (the same generation can carry newer files: an expiry, a user's own key). Its sessions
    // ended are not: they add to the newer report's.
    std::lock_guard<std::mutex> lock(mu_);
    for (HostReport& report : batch) {
      auto [slot, added] = pending_.try_emplace(report.hostname, std::move(report));
      if (!added) MergeSessionsEnded(report, slot->second);
    }
  }
  absl::Status recorded = store_.RecordKeyUses(uses);
  if (!recorded.ok()) {
    size_t dropped = 0;
    std::lock_guard<std::mutex> lock(mu_);
    KeepKeyUsesLocked(uses, &dropped);
    if (dropped > 0) {
      spdlog::warn("{} key uses not recorded: the database is unreachable and {} are waiting",
                   dropped, kMaxPendingKeyUses);
    }
    if (status.ok()) status = recorded;
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

std::vector<std::string> AgentHandlers::Revocations(uint64_t offset, uint64_t* total,
                                                    std::string* epoch, uint64_t* next_offset,
                                                    std::vector<std::string>* kill_sessions) const {
  std::vector<std::string> page =
      ctx_.view.RevokedPage(offset, kRevocationsPerPage, total, epoch, kill_sessions);
  const uint64_t end = offset + page.size();
  *next_offset = end < *total ? end : 0;
  return page;
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
  std::vector<SessionsEndedCount> ended;
  for (SessionsEndedCount& e : report.sessions_ended) {
    if (e.count == 0) continue;
    std::optional<KeyRecord> key = ctx_.view.FindKey(e.fingerprint);
    if (!key || key->state != KeyState::kRevoked || !key->revocation_ends_sessions) {
      spdlog::warn(
          "host {} reports ending {} sessions of key \"{}\", which was not revoked with "
          "kill_sessions; left out of its report",
          report.hostname, e.count, PrintableName(e.fingerprint));
      continue;
    }
    ended.push_back(std::move(e));
  }
  report.sessions_ended = std::move(ended);
  if (!report.applied_epoch.empty() && report.applied_epoch != ctx_.view.epoch()) {
    report.applied_generation = 0;
    report.applied_digest.clear();
  }
  report.at = ctx_.Now();
  reports_.Add(std::move(report));
  return absl::OkStatus();
}

absl::StatusOr<KeyUseOutcome> AgentHandlers::RecordKeyUses(const std::string& hostname,
                                                           std::vector<KeyUseRecord> uses) {
  if (!ctx_.view.FindHost(hostname)) {
    return absl::NotFoundError(
        absl::StrCat("host \"", hostname, "\" is not registered; Watch before reporting"));
  }
  const absl::Time now = ctx_.Now();
  KeyUseOutcome outcome;
  std::vector<KeyUseRecord> kept;
  kept.reserve(uses.size());
  for (size_t i = 0; i < uses.size(); ++i) {
    KeyUseRecord& use = uses[i];
    use.hostname = hostname;  // the stream's: a report never names another host
    absl::Status valid = ValidateKeyUse(use, now);
    if (!valid.ok()) {
      if (outcome.refused++ == 0) {
        outcome.first_refusal = absl::StrCat("use ", i + 1, ": ", valid.message());
      }
      continue;
    }
    if (!ctx_.view.FindKey(use.fingerprint)) {
      ++outcome.unknown_keys;
      continue;
    }
    kept.push_back(std::move(use));
  }
  outcome.recorded = kept.size();
  // Listing keys reads last use from memory: this replica's agents' uses count at once.
  std::map<std::string, absl::Time> newest;
  for (const KeyUseRecord& use : kept) {
    auto [it, added] = newest.try_emplace(use.fingerprint, use.last_used);
    if (!added) it->second = std::max(it->second, use.last_used);
  }
  ctx_.view.NoteLastUses(newest);
  outcome.dropped = reports_.AddKeyUses(kept);
  outcome.recorded -= std::min(outcome.recorded, outcome.dropped);
  return outcome;
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
