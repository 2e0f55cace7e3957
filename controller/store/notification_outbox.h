// The notification outbox in PostgreSQL (migration 0006): events written with the mutation that
// caused them (PostgresStore::Mutate) or by the periodic scan, fanned out to one delivery per
// configured sink, and delivered at least once by exactly one replica.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/notify/notification.h"

namespace keyfleet::controller {

// One event to notify.
struct OutboxEntry {
  std::string event;  // "key.rotated", … (notify::Notification::event)
  absl::Time at;
  std::string principal;  // whose e-mail address it goes to (looked up when sent); "" nobody
  std::string subject;
  std::string text;
  std::string payload_json;
  std::string dedupe_key;  // "" for mutation events; else written once ever
};

struct ClaimedDelivery {
  int64_t delivery_id = 0;
  std::string sink;
  int attempts = 0;  // including this one
  notify::Notification notification;
};

struct DeliveryRow {
  int64_t id = 0;
  int64_t outbox_id = 0;
  std::string event;
  std::string sink;
  std::string state;  // pending, delivered, dead
  int attempts = 0;
  absl::Time at;               // the event
  absl::Time next_attempt_at;  // pending: when it is tried (again)
  std::optional<absl::Time> delivered_at;
  std::string last_error;
  std::string subject;
};

struct DeliveryCounts {
  uint64_t not_fanned_out = 0;  // events no sink has taken yet
  uint64_t pending = 0, delivered = 0, dead = 0;
};

class NotificationOutbox {
 public:
  virtual ~NotificationOutbox() = default;

  // Writes scan events; one whose dedupe_key was ever written is skipped.
  virtual absl::Status Enqueue(const std::vector<OutboxEntry>& entries) = 0;
  // Gives up to `limit` new events one pending delivery per sink `sinks_for` names (possibly
  // none), due at `now`. Returns how many events it took.
  virtual absl::StatusOr<size_t> FanOut(
      const std::function<std::vector<std::string>(const notify::Notification&)>& sinks_for,
      absl::Time now, size_t limit) = 0;
  // Takes the oldest due delivery and leases it until `now + lease` (if this replica dies, it
  // is due again then); nullopt when none is due.
  virtual absl::StatusOr<std::optional<ClaimedDelivery>> ClaimDue(absl::Time now,
                                                                  absl::Duration lease) = 0;
  virtual absl::Status MarkDelivered(int64_t delivery_id, absl::Time now) = 0;
  // Due again at `retry_at` with `error` kept for `notify status`.
  virtual absl::Status MarkRetry(int64_t delivery_id, absl::Time retry_at,
                                 const std::string& error) = 0;
  virtual absl::Status MarkDead(int64_t delivery_id, const std::string& error) = 0;

  virtual absl::StatusOr<DeliveryCounts> CountDeliveries() = 0;
  // Newest first; `state` "" for all.
  virtual absl::StatusOr<std::vector<DeliveryRow>> ListDeliveries(const std::string& state,
                                                                  size_t limit) = 0;
  // A dead-lettered delivery is pending again, due at `now`, with its attempts reset.
  // NOT_FOUND for an unknown id, FAILED_PRECONDITION for one that is not dead.
  virtual absl::Status RetryDelivery(int64_t delivery_id, absl::Time now) = 0;
};

}  // namespace keyfleet::controller
