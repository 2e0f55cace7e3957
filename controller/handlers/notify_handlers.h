// `keyfleet notify status | retry`: the outbox as admins see it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controller/store/notification_outbox.h"

namespace keyfleet::controller {

struct NotifyStatus {
  DeliveryCounts counts;
  std::vector<DeliveryRow> deliveries;
  std::vector<std::string> sinks;
};

class NotifyHandlers {
 public:
  // `outbox` may be null (a store without one): every call is then FAILED_PRECONDITION.
  NotifyHandlers(NotificationOutbox* outbox, std::vector<std::string> sinks, const Clock& clock)
      : outbox_(outbox), sinks_(std::move(sinks)), clock_(clock) {}

  static constexpr size_t kDefaultListLimit = 50;
  static constexpr size_t kMaxListLimit = 1000;

  // `state`: "", "pending", "delivered" or "dead"; `limit` 0 for the default.
  absl::StatusOr<NotifyStatus> Status(const std::string& state, size_t limit) const;
  absl::Status Retry(int64_t delivery_id) const;

 private:
  NotificationOutbox* outbox_;
  std::vector<std::string> sinks_;
  const Clock& clock_;
};

}  // namespace keyfleet::controller
