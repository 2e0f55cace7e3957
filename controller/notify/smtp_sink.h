// Notifications as e-mail to the principal they concern, over SMTP with libcurl. Only
// notifications with an email_to are taken; the message is mail_message.h's ComposeMail.
//
// Outcomes: accepted (250 after the data) delivered; an SMTP 5xx reply at any step permanent; a
// 4xx reply, a connection failure, a timeout or a TLS failure retried; an invalid address
// permanent (it will not become valid by waiting).
#pragma once

#include <set>
#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/notify/notification.h"
#include "controller/notify/notify_url.h"

namespace keyfleet::controller::notify {

inline constexpr absl::Duration kDefaultSmtpTimeout = absl::Seconds(30);
// RFC 5321 4.5.3.2 lets a server take minutes per step; a dispatcher waiting longer than this
// for one message holds up every other notification.
inline constexpr absl::Duration kMaxSmtpTimeout = absl::Seconds(120);

// For smtp:// URLs: whether the session is upgraded with STARTTLS. (smtps:// is TLS from the
// start.)
enum class StartTls {
  kTry,      // when the server offers it; plain text when it does not
  kRequire,  // refuse to send unless the server offers it
  kNever,    // plain text (a local relay)
};

struct SmtpSettings {
  ServiceUrl url;    // smtp:// or smtps://
  std::string from;  // a plain address (ValidateMailAddress)
  StartTls starttls = StartTls::kTry;
  std::string username;  // "" for no authentication
  std::string password;  // with username; never in a detail, a log or an error
  std::string ca_file;   // TLS: trust only the certificates in it; "" the system's trust store
  absl::Duration timeout = kDefaultSmtpTimeout;
  std::set<std::string> events;  // the events it takes
};

class SmtpSink : public NotificationSink {
 public:
  // `clock` (the Date header) must outlive the sink.
  SmtpSink(SmtpSettings settings, const Clock& clock);
  ~SmtpSink() override;
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  const std::string& name() const override { return sink_name_; }
  // Events it takes, and only with a non-empty email_to.
  bool Wants(const Notification& n) const override;
  // One SMTP session for one message, over within the timeout.
  DeliveryResult Deliver(const Notification& n) override;

 private:
  const SmtpSettings settings_;
  const std::string sink_name_ = "smtp";
  const Clock& clock_;
};

}  // namespace keyfleet::controller::notify
