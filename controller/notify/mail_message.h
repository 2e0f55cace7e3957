// The e-mail the SMTP sink sends for a notification (RFC 5322 and MIME), and the address
// checks that keep anything but one address out of the envelope and the headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controller/notify/notification.h"

namespace keyfleet::controller::notify {

// RFC 5321 4.5.3.1: a local part of at most 64 octets, a path of at most 256 with its brackets.
inline constexpr size_t kMaxMailLocalPartBytes = 64;
inline constexpr size_t kMaxMailAddressBytes = 254;
inline constexpr size_t kMaxMailDomainLabelBytes = 63;
// Longer subjects are cut (at a character boundary): mail clients show about this much anyway.
inline constexpr size_t kMaxMailSubjectBytes = 200;
// Longer texts are cut, with a note saying so: a notification is a few lines.
inline constexpr size_t kMaxMailTextBytes = 64 * 1024;
// RFC 5322 2.1.1: a line is at most 998 characters before its CRLF.
inline constexpr size_t kMaxMailLineBytes = 998;

// OK for a plain address local@domain: a dot-atom local part (letters, digits and
// !#$%&'*+-/=?^_`{|}~, dots only between them), at most kMaxMailLocalPartBytes, and a domain of
// dot-separated labels of letters, digits and inner hyphens. No display names, comments, quoted
// local parts, address literals or non-ASCII, and nothing that could end a header or an SMTP
// command. INVALID_ARGUMENT saying which rule was broken otherwise.
absl::Status ValidateMailAddress(absl::string_view address);

// RFC 5322 date-time in UTC, "Tue, 02 Jan 2024 15:04:05 +0000", with English names whatever
// the process locale.
std::string MailDate(absl::Time time);

// "<keyfleet.outbox.ID@DOMAIN>" with DOMAIN from `from`: every retry of one outbox entry has
// the same Message-ID, so receivers and their mail systems can recognise duplicates.
std::string MailMessageId(int64_t outbox_id, absl::string_view from);

// The subject as it goes out: control characters (CR and LF included) become spaces, leading
// and trailing spaces go, at most kMaxMailSubjectBytes are kept; "keyfleet: EVENT" when
// nothing is left.
std::string CleanMailSubject(absl::string_view subject, absl::string_view event);

// The whole message, header and body, with CRLF line ends and without SMTP dot-stuffing
// (libcurl does that): From, To, Subject (RFC 2047 encoded when not ASCII), Date, Message-ID,
// MIME-Version, Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding (7bit for
// plain ASCII text, else base64), Auto-Submitted: auto-generated (RFC 3834, so that
// auto-responders stay quiet), X-Keyfleet-Event and X-Keyfleet-Delivery. INVALID_ARGUMENT when
// `from` or n.email_to is not a valid address or n.event is not a known event.
absl::StatusOr<std::string> ComposeMail(const Notification& n, absl::string_view from,
                                        absl::Time date);

}  // namespace keyfleet::controller::notify
