// Delivers the notification outbox: fans new events out to the configured sinks, delivers due
// deliveries one at a time (each leased, so exactly one replica sends it), retries with
// exponential backoff, dead-letters after the retry policy's last attempt; and every
// scan_interval writes the scan events (expiring, overdue, drift, not seen, not converged).
// Delivery runs on its own thread and never blocks or fails a mutation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controller/fleet_view.h"
#include "controller/handlers/report_handlers.h"
#include "controller/notify/notification.h"
#include "controller/notify/retry_policy.h"
#include "controller/store/notification_outbox.h"

namespace keyfleet::controller {

struct DispatcherSettings {
  notify::RetryPolicy retry;
  absl::Duration poll_interval = absl::Seconds(1);
  absl::Duration scan_interval = absl::Seconds(60);
  absl::Duration host_stale_after = absl::Minutes(15);
  absl::Duration rollout_deadline = absl::Minutes(15);
  // How long a claimed delivery is this replica's: longer than any sink's timeout.
  absl::Duration lease = absl::Minutes(2);
  // Optional, told of each delivery attempt's outcome: "delivered", "retry" (tried again later)
  // or "dead" (dead-lettered), with the sink's name (the controller's metrics count them).
  std::function<void(const std::string& sink, const char* result)> on_delivery;
};

class NotifyDispatcher {
 public:
  NotifyDispatcher(NotificationOutbox& outbox,
                   std::vector<std::unique_ptr<notify::NotificationSink>> sinks,
                   DispatcherSettings settings, const FleetView& view,
                   const ReportHandlers& reports, const Clock& clock);
  ~NotifyDispatcher();
  NotifyDispatcher(const NotifyDispatcher&) = delete;
  NotifyDispatcher& operator=(const NotifyDispatcher&) = delete;

  void Start();
  void Stop();

  // One round, for the thread and for tests: fan out, then deliver until nothing is due (at
  // most `max_attempts` attempts). Returns the attempts made.
  absl::StatusOr<size_t> DeliverDue(size_t max_attempts = 100);
  // Writes the scan's events (the outbox keeps each once).
  absl::Status Scan();

 private:
  void Run();
  void Deliver(const ClaimedDelivery& d);

  NotificationOutbox& outbox_;
  std::vector<std::unique_ptr<notify::NotificationSink>> sinks_;
  const DispatcherSettings settings_;
  const FleetView& view_;
  const ReportHandlers& reports_;
  const Clock& clock_;
  // Scan events this replica already wrote (skips re-inserting them every scan).
  std::set<std::string> written_;
  uint64_t rollout_change_ = 0;
  absl::Time rollout_first_seen_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keyfleet::controller
