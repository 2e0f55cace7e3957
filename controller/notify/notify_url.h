// URLs of notification receivers: webhooks (http, https) and the mail server (smtp, smtps).
// Parsed by hand and strictly, because the parts go to two different client libraries and into
// delivery details shown to admins.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::controller::notify {

// Longer than any real webhook URL; a cap keeps the parser and the details small.
inline constexpr size_t kMaxUrlBytes = 2048;
// RFC 1035: a host name is at most 253 characters.
inline constexpr size_t kMaxUrlHostBytes = 253;

struct ServiceUrl {
  std::string scheme;  // "http", "https", "smtp" or "smtps"
  std::string host;    // a name or IPv4 address as written, or an IPv6 address without brackets
  int port = 0;        // as written, else the scheme's default (80, 443, 25, 465)
  std::string target;  // webhooks: path and query, "/" when absent; SMTP: always ""

  bool is_tls() const { return scheme == "https" || scheme == "smtps"; }
  // "host:port", "[v6]:port".
  std::string Authority() const;
  // "scheme://host:port", what the client libraries connect to.
  std::string Origin() const;
  // Origin and the path without its query (which may carry a token), for delivery details.
  std::string ForDisplay() const;
};

// An http:// or https:// URL: scheme in lower case, a host (name, IPv4, or [IPv6] without a
// zone), an optional port 1-65535, an optional path and query of printable ASCII. No user
// information (user:password@), no fragment, at most kMaxUrlBytes. INVALID_ARGUMENT saying what
// was wrong otherwise.
absl::StatusOr<ServiceUrl> ParseWebhookUrl(absl::string_view text);

// An smtp:// or smtps:// URL with a host and optional port, nothing after them (a trailing "/"
// is allowed). Same rules as ParseWebhookUrl otherwise.
absl::StatusOr<ServiceUrl> ParseSmtpUrl(absl::string_view text);

}  // namespace keyfleet::controller::notify
