// The `notifications:` section of the controller's config: webhook receivers, the mail server
// and the retry policy. Parsed strictly, like controller/config.cc: an unknown key, a wrong
// type or a bad value is an error naming its key path ("notifications.webhooks[0].url").
//
//   notifications:
//     webhooks:                          # optional list, at most kMaxWebhooks
//       - name: siem                     # required, unique, [a-z0-9-]{1,32}
//         url: https://hooks.example/kf  # required, http:// or https://
//         secret_file: /etc/keyfleet/webhook-siem.secret  # required (see below)
//         events: [key.rotated, key.revoked]  # optional, default every event
//         ca_file: /etc/keyfleet/hooks-ca.pem  # optional, https only; default system store
//         timeout: 10s                   # optional, 1s..60s, default 10s
//     smtp:                              # optional
//       url: smtp://127.0.0.1:25         # required, smtp:// or smtps://
//       from: keyfleet@example.com       # required, a plain address
//       starttls: try                    # optional, smtp:// only: try (default), require, never
//       username: keyfleet               # optional, with password_file; needs TLS (smtps://
//       password_file: /etc/keyfleet/smtp.password  #   or starttls: require)
//       ca_file: /etc/keyfleet/mail-ca.pem  # optional, not with starttls: never
//       timeout: 30s                     # optional, 1s..120s, default 30s
//       events: [key.expiring, key.overdue]  # optional, default every event
//     retry:                             # optional
//       max_attempts: 8                  # 1..100; then the delivery is dead-lettered
//       initial_backoff: 30s             # 1s..24h; doubled after each failed attempt
//       max_backoff: 1h                  # initial_backoff..24h
//
// secret_file and password_file are read when the config is parsed (at start): each must be a
// regular file, not a symlink (except inside a Kubernetes secret volume: common/tls/secure_file.h),
// owned by root or the controller's user, neither readable nor writable by group or others (0600
// or 0400), non-empty once one trailing newline is stripped,
// and at most kMaxNotifySecretBytes. ca_file must hold PEM certificates (only certificates).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/notify/retry_policy.h"
#include "controller/notify/smtp_sink.h"
#include "controller/notify/webhook_sink.h"

namespace keyfleet::controller::notify {

// More receivers than this is a config mistake (each notification goes to every one).
inline constexpr size_t kMaxWebhooks = 16;
inline constexpr size_t kMaxWebhookNameBytes = 32;
// A shared secret or password is a line of a few dozen characters.
inline constexpr size_t kMaxNotifySecretBytes = 4096;
// A CA bundle; the system's own is about 200 KiB.
inline constexpr size_t kMaxNotifyCaFileBytes = 1024 * 1024;
// Below a second, a timeout fails on any network hiccup; the duration syntax has whole seconds.
inline constexpr absl::Duration kMinNotifyTimeout = absl::Seconds(1);

struct NotifyConfig {
  std::vector<WebhookSettings> webhooks;
  std::optional<SmtpSettings> smtp;
  RetryPolicy retry;
};

// `node` is the value of the `notifications:` key; a null node (the key absent or empty) is a
// config with no sinks. INVALID_ARGUMENT naming the key path and what is allowed for a mistake;
// the file errors of secret_file, password_file and ca_file (FAILED_PRECONDITION for a
// group-readable secret, NOT_FOUND for a missing file, …) keep their code, prefixed with the
// key path.
absl::StatusOr<NotifyConfig> ParseNotifyConfig(const YAML::Node& node);

}  // namespace keyfleet::controller::notify
