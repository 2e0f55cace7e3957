// Notifications as signed JSON POSTs to a webhook receiver (cpp-httplib's client).
//
// The request: POST to the configured URL with
//   Content-Type: application/json
//   X-Keyfleet-Event: key.rotated
//   X-Keyfleet-Delivery: <outbox id>   (the same on every retry: receivers dedupe on it)
//   X-Keyfleet-Timestamp: <Unix seconds when sent>
//   X-Keyfleet-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
// and the body {"id":<outbox id>,"event":"key.rotated","at":"<RFC 3339 UTC>","data":<payload>}.
// Receivers check the signature with VerifyWebhookSignature (webhook_signature.h).
//
// Outcomes: 2xx delivered; 408, 429, 5xx, connection failures, timeouts and TLS failures are
// retried; any other status (3xx redirects included: they are not followed) is permanent.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/notify/notification.h"
#include "controller/notify/notify_url.h"
#include "controller/notify/webhook_signature.h"

namespace keyfleet::controller::notify {

inline constexpr char kWebhookEventHeader[] = "X-Keyfleet-Event";
inline constexpr char kWebhookDeliveryHeader[] = "X-Keyfleet-Delivery";
inline constexpr char kWebhookTimestampHeader[] = "X-Keyfleet-Timestamp";
inline constexpr char kWebhookSignatureHeader[] = "X-Keyfleet-Signature";

inline constexpr absl::Duration kDefaultWebhookTimeout = absl::Seconds(10);
// The dispatcher waits for a delivery; a receiver slower than this is as good as down.
inline constexpr absl::Duration kMaxWebhookTimeout = absl::Seconds(60);
// Only the status matters, and the start of the body for details: a receiver answering with
// megabytes costs no more than one answering with a line.
inline constexpr size_t kMaxWebhookResponseBytes = 4096;
// How much of a receiver's answer a detail quotes.
inline constexpr size_t kMaxWebhookDetailExcerptBytes = 200;

struct WebhookSettings {
  std::string name;              // [a-z0-9-]{1,32}; the sink is "webhook:NAME"
  ServiceUrl url;                // http or https
  std::string secret;            // the HMAC key: never in a detail, a log or an error
  std::set<std::string> events;  // the events it takes
  std::string ca_file;  // https: trust only the certificates in it; "" the system's trust store
  absl::Duration timeout = kDefaultWebhookTimeout;
};

// The request body for `n`; its "data" is n.payload_json byte for byte. INVALID_ARGUMENT when
// the payload is not a JSON object.
absl::StatusOr<std::string> WebhookBody(const Notification& n);

class WebhookSink : public NotificationSink {
 public:
  // `clock` (the X-Keyfleet-Timestamp) must outlive the sink.
  WebhookSink(WebhookSettings settings, const Clock& clock);

  const std::string& name() const override { return sink_name_; }
  bool Wants(const Notification& n) const override;
  // One POST, over in about the timeout: connecting and the TLS handshake get half of it each
  // at most, and the exchange is cut off when the whole timeout has passed (name resolution
  // aside, which the system resolver bounds).
  DeliveryResult Deliver(const Notification& n) override;

 private:
  const WebhookSettings settings_;
  const std::string sink_name_;
  const Clock& clock_;
};

}  // namespace keyfleet::controller::notify
