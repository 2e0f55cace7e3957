#include "controller/notify_dispatcher.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/notification_events.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// Bounds the per-replica memory of written scan events; clearing it only costs re-inserts the
// outbox ignores.
constexpr size_t kMaxRememberedScanEvents = 100000;

std::vector<std::string> DriftLines(const std::string& drift_json) {
  std::vector<std::string> lines;
  nlohmann::json j = nlohmann::json::parse(drift_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return lines;
  for (const nlohmann::json& item : j) lines.push_back(item.dump());
  return lines;
}

}  // namespace

NotifyDispatcher::NotifyDispatcher(NotificationOutbox& outbox,
                                   std::vector<std::unique_ptr<notify::NotificationSink>> sinks,
                                   DispatcherSettings settings, const FleetView& view,
                                   const ReportHandlers& reports, const Clock& clock)
    : outbox_(outbox),
      sinks_(std::move(sinks)),
      settings_(std::move(settings)),
      view_(view),
      reports_(reports),
      clock_(clock) {}

NotifyDispatcher::~NotifyDispatcher() {
  Stop();
}

void NotifyDispatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void NotifyDispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NotifyDispatcher::Run() {
  absl::Time next_scan = clock_.Now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // Without sinks nobody would hear of what the scan finds, and on a large fleet it is not
    // free (every key and host, every scan_interval).
    if (!sinks_.empty() && clock_.Now() >= next_scan) {
      next_scan = clock_.Now() + settings_.scan_interval;
      if (absl::Status s = Scan(); !s.ok()) {
        spdlog::warn("notifications: the scan could not write its events: {}", s.ToString());
      }
    }
    if (absl::StatusOr<size_t> sent = DeliverDue(); !sent.ok()) {
      spdlog::warn("notifications: cannot read the outbox: {}", sent.status().ToString());
    }
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(settings_.poll_interval),
                 [this] { return stopping_; });
  }
}

absl::StatusOr<size_t> NotifyDispatcher::DeliverDue(size_t max_attempts) {
  const absl::Time now = clock_.Now();
  KF_ASSIGN_OR_RETURN(size_t taken, outbox_.FanOut(
                                        [this](const notify::Notification& n) {
                                          std::vector<std::string> names;
                                          for (const auto& sink : sinks_) {
                                            if (sink->Wants(n)) names.push_back(sink->name());
                                          }
                                          return names;
                                        },
                                        now, 100));
  (void)taken;
  size_t attempts = 0;
  while (attempts < max_attempts) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    KF_ASSIGN_OR_RETURN(std::optional<ClaimedDelivery> claimed,
                        outbox_.ClaimDue(clock_.Now(), settings_.lease));
    if (!claimed) break;
    ++attempts;
    Deliver(*claimed);
  }
  return attempts;
}

void NotifyDispatcher::Deliver(const ClaimedDelivery& d) {
  notify::NotificationSink* sink = nullptr;
  for (const auto& s : sinks_) {
    if (s->name() == d.sink) sink = s.get();
  }
  absl::Status recorded;
  const char* outcome = "dead";
  if (sink == nullptr) {
    // Configured when the event was fanned out, gone since: nobody will ever send it.
    recorded = outbox_.MarkDead(d.delivery_id,
                                absl::StrCat("the sink \"", d.sink, "\" is no longer configured"));
  } else {
    const notify::DeliveryResult result = sink->Deliver(d.notification);
    const absl::Time now = clock_.Now();
    switch (result.outcome) {
      case notify::DeliveryOutcome::kDelivered:
        outcome = "delivered";
        recorded = outbox_.MarkDelivered(d.delivery_id, now);
        break;
      case notify::DeliveryOutcome::kPermanentFailure:
        spdlog::warn("notifications: {} refused notification {} ({}) for good: {}", d.sink,
                     d.notification.id, d.notification.event, result.detail);
        recorded = outbox_.MarkDead(d.delivery_id, result.detail);
        break;
      case notify::DeliveryOutcome::kRetry:
        if (notify::ShouldDeadLetter(settings_.retry, d.attempts)) {
          spdlog::warn(
              "notifications: {} failed notification {} ({}) {} times; dead-lettered "
              "(keyfleet notify retry {}): {}",
              d.sink, d.notification.id, d.notification.event, d.attempts, d.delivery_id,
              result.detail);
          recorded = outbox_.MarkDead(d.delivery_id, result.detail);
        } else {
          outcome = "retry";
          recorded = outbox_.MarkRetry(d.delivery_id,
                                       notify::NextAttemptAt(settings_.retry, d.attempts, now),
                                       result.detail);
        }
        break;
    }
  }
  if (settings_.on_delivery) settings_.on_delivery(d.sink, outcome);
  if (!recorded.ok()) {
    // The lease runs out and the delivery is tried again: at least once, maybe twice.
    spdlog::warn("notifications: cannot record the outcome of delivery {}: {}", d.delivery_id,
                 recorded.ToString());
  }
}

absl::Status NotifyDispatcher::Scan() {
  FleetScan scan;
  scan.now = clock_.Now();
  scan.host_stale_after = settings_.host_stale_after;
  scan.rollout_deadline = settings_.rollout_deadline;
  const PolicyRecord policy = view_.policy();
  for (KeyRecord& key : view_.Keys(KeyFilter{}, scan.now)) {
    std::optional<PrincipalRecord> owner = view_.FindPrincipal(key.principal);
    if (!owner || owner->disabled) continue;
    scan.keys.push_back({std::move(key), policy.RuleFor(owner->kind)});
  }
  KF_ASSIGN_OR_RETURN(std::vector<HostStatus> hosts, reports_.ListHosts());
  for (const HostStatus& h : hosts) {
    scan.hosts.push_back({h.host.hostname, h.host.last_seen, DriftLines(h.host.drift_json)});
  }
  absl::StatusOr<RolloutStatus> rollout = reports_.Rollout(0);
  if (rollout.ok() && rollout->change != 0) {
    if (rollout->change != rollout_change_) {
      rollout_change_ = rollout->change;
      rollout_first_seen_ = scan.now;
    }
    ScannedRollout r;
    r.change = rollout->change;
    r.at = rollout_first_seen_;
    r.pending_hosts = rollout->pending;
    for (const auto& [host, failures] : rollout->failed) r.failed_hosts.push_back(host);
    scan.latest_rollout = std::move(r);
  }
  std::vector<OutboxEntry> fresh;
  for (OutboxEntry& e : NotificationsForScan(scan)) {
    if (written_.count(e.dedupe_key) == 0) fresh.push_back(std::move(e));
  }
  if (fresh.empty()) return absl::OkStatus();
  KF_RETURN_IF_ERROR(outbox_.Enqueue(fresh));
  if (written_.size() + fresh.size() > kMaxRememberedScanEvents) written_.clear();
  for (const OutboxEntry& e : fresh) written_.insert(e.dedupe_key);
  return absl::OkStatus();
}

}  // namespace keyfleet::controller
