// What the controller's outbox hands to notification sinks, and the interface every sink
// (webhook_sink.h, smtp_sink.h) implements. Header-only: the outbox in the store includes it
// without linking the sinks.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet::controller::notify {

// Every event the controller notifies about; configs may name only these.
// keys.added is a bulk add (one event for the batch, `keyfleet key add` of a file with several
// keys); key.added one key.
inline constexpr std::array<absl::string_view, 9> kNotificationEvents = {
    "key.added",   "keys.added", "key.rotated",   "key.revoked",          "key.expiring",
    "key.overdue", "host.drift", "host.not_seen", "rollout.not_converged"};

inline bool IsKnownNotificationEvent(absl::string_view event) {
  for (absl::string_view known : kNotificationEvents) {
    if (known == event) return true;
  }
  return false;
}

struct Notification {
  int64_t id = 0;            // outbox id: stable across retries, receivers dedupe on it
  std::string event;         // one of kNotificationEvents
  absl::Time at;             // when the event happened
  std::string payload_json;  // the event's JSON object
  std::string email_to;      // the principal's address for its own keys; "" when nobody is mailed
  std::string subject;       // one line, for e-mail
  std::string text;          // plain-text body, for e-mail
};

enum class DeliveryOutcome {
  kDelivered,
  kRetry,             // try again later (with backoff), until the retry policy gives up
  kPermanentFailure,  // trying again cannot help: dead-letter it now
};

struct DeliveryResult {
  DeliveryOutcome outcome;
  std::string detail;  // what happened, safe to show to admins (never a secret)
};

class NotificationSink {
 public:
  virtual ~NotificationSink() = default;
  // Unique within one config: "webhook:NAME" or "smtp". The outbox keys deliveries on it.
  virtual const std::string& name() const = 0;
  // Whether this sink takes `n` at all (its event filter; the SMTP sink also needs email_to).
  virtual bool Wants(const Notification& n) const = 0;
  // One attempt, bounded by the sink's timeout. Thread-safe: calls may run concurrently.
  virtual DeliveryResult Deliver(const Notification& n) = 0;
};

}  // namespace keyfleet::controller::notify
