#include "controller/metrics/host_tracker.h"

#include <unordered_set>

#include "absl/strings/match.h"
#include "controller/record_json.h"

namespace keyfleet::controller::metrics {

std::optional<absl::Time> RevokedAt(const Change& change) {
  // Most key changes are not revocations: look for the state before parsing the record (the
  // feed's JSON is compact, record_json.cc; a unit test holds the two together).
  if (change.entity != EntityKind::kKey ||
      !absl::StrContains(change.after_json, "\"state\":\"revoked\"")) {
    return std::nullopt;
  }
  absl::StatusOr<KeyRecord> key = KeyFromJson(change.after_json);
  if (!key.ok() || key->state != KeyState::kRevoked || !key->revoked_at) return std::nullopt;
  return *key->revoked_at;
}

void HostStateTracker::DesiredStateSent(const std::string&) {
  metrics_.CountDesiredStatePush();
}

void HostStateTracker::Reported(const std::string& hostname, const v1::ReportRequest& report) {
  const std::string view_epoch = view_.epoch();
  const std::string epoch = report.applied_epoch().empty() ? view_epoch : report.applied_epoch();
  const absl::Time now = clock_.Now();
  std::vector<absl::Duration> converged;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Host& host = hosts_[hostname];
    host.reported = true;
    host.epoch = epoch;
    host.generation = report.applied_generation();
    host.digest = report.applied_digest();
    host.failed = report.failed_accounts_size() > 0 || !report.revocations_error().empty();
    while (!host.revocations.empty()) {
      const Pending& p = host.revocations.front();
      if (p.epoch != view_epoch) {
        host.revocations.pop_front();  // another history's change: its number means nothing now
        continue;
      }
      if (epoch != view_epoch || host.generation < p.change) break;
      converged.push_back(now - p.at);
      host.revocations.pop_front();
    }
  }
  for (absl::Duration d : converged) metrics_.ObserveRevokeToConverged(d);
}

void HostStateTracker::ChangesApplied(
    const std::vector<Change>& changes,
    const std::function<std::vector<std::string>()>& connected_hosts) {
  std::vector<std::pair<Pending, std::vector<std::string>>> revocations;
  const absl::Time now = clock_.Now();
  for (const Change& change : changes) {
    std::optional<absl::Time> at = RevokedAt(change);
    if (!at) continue;
    std::optional<RolloutTargets> targets = view_.Rollout(change.sequence);
    if (!targets || targets->hosts.empty()) continue;
    revocations.push_back(
        {Pending{change.sequence, "", std::min(*at, now)}, std::move(targets->hosts)});
  }
  if (revocations.empty()) return;
  const std::string epoch = view_.epoch();
  const std::vector<std::string> connected = connected_hosts();
  const std::unordered_set<std::string> here(connected.begin(), connected.end());
  std::lock_guard<std::mutex> lock(mu_);
  ForgetOthers(here);
  for (auto& [pending, hosts] : revocations) {
    pending.epoch = epoch;
    for (const std::string& hostname : hosts) {
      if (!here.count(hostname)) continue;
      std::deque<Pending>& clocks = hosts_[hostname].revocations;
      if (clocks.size() >= kMaxPendingRevocations) clocks.pop_front();
      clocks.push_back(pending);
    }
  }
}

HostStateCounts HostStateTracker::Count(const std::vector<std::string>& connected) {
  const std::string view_epoch = view_.epoch();
  const size_t known = view_.host_count();
  std::vector<std::pair<const std::string*, std::string>> desired;  // connected hosts it knows
  desired.reserve(connected.size());
  for (const std::string& hostname : connected) {
    std::optional<std::string> digest = view_.DesiredDigest(hostname);
    if (digest) desired.emplace_back(&hostname, std::move(*digest));
  }
  HostStateCounts counts;
  counts.offline = known > desired.size() ? known - desired.size() : 0;
  const std::unordered_set<std::string> here(connected.begin(), connected.end());
  std::lock_guard<std::mutex> lock(mu_);
  ForgetOthers(here);
  for (const auto& [hostname, digest] : desired) {
    auto it = hosts_.find(*hostname);
    if (it == hosts_.end() || !it->second.reported) {
      ++counts.pending;
    } else if (it->second.failed) {
      ++counts.failed;
    } else if (it->second.epoch == view_epoch && it->second.digest == digest) {
      ++counts.converged;
    } else {
      ++counts.pending;
    }
  }
  return counts;
}

void HostStateTracker::ForgetOthers(const std::unordered_set<std::string>& connected) {
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    it = connected.count(it->first) ? std::next(it) : hosts_.erase(it);
  }
}

}  // namespace keyfleet::controller::metrics
