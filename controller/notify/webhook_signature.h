// The signature on keyfleet's webhook requests, for the sender (webhook_sink.h) and for
// receivers: X-Keyfleet-Signature: sha256=<lower-case hex HMAC-SHA256(secret, T + "." + body)>,
// where T is the X-Keyfleet-Timestamp header (Unix seconds, decimal). Signing the timestamp
// lets a receiver refuse replays of an old request: it should check the signature with
// VerifyWebhookSignature and also that T is within a few minutes of its own clock.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::controller::notify {

inline constexpr char kWebhookSignaturePrefix[] = "sha256=";

// "sha256=" + 64 lower-case hex digits. INTERNAL only if OpenSSL cannot compute an HMAC at
// all (no usable provider), with OpenSSL's reasons.
absl::StatusOr<std::string> WebhookSignature(absl::string_view secret, absl::string_view timestamp,
                                             absl::string_view body);

// Whether `header` (the X-Keyfleet-Signature value) is exactly WebhookSignature(secret,
// timestamp, body); false also when the HMAC cannot be computed. The comparison takes the same time
// wherever the first difference is, so a forger learns nothing from how fast a guess is refused.
bool VerifyWebhookSignature(absl::string_view secret, absl::string_view timestamp,
                            absl::string_view body, absl::string_view header);

}  // namespace keyfleet::controller::notify
