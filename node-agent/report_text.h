// Text the agent read from the host (key comments and options, paths, messages quoting them),
// made fit for a report's string field. Protobuf refuses a `string` that is not UTF-8, and the
// controller refuses one over its field's limit (common/report_limits.h): either ends the
// stream, so one user's Latin-1 comment would keep the whole host from ever reporting.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::agent {

// Ends a text that was cut (U+2026, 3 bytes), as PrintableName does.
inline constexpr absl::string_view kReportCutMarker = "…";

// `text` as valid UTF-8: every well-formed character (RFC 3629, as common/utf8.h checks) is
// kept as it is, control characters included (the controller drops them where it stores, the
// CLI escapes them where it prints); every other byte — Latin-1, a truncated sequence, an
// overlong form, a surrogate, a code point past U+10FFFF — is written as \xHH (lower-case hex,
// as absl::CHexEscape). Valid UTF-8 comes back unchanged.
//
// At most `max_bytes` bytes: a longer text is cut after a whole character or escape, never
// inside one, and ends in kReportCutMarker (when max_bytes leaves room for it).
std::string ReportText(absl::string_view text, size_t max_bytes);

// Escaped as ReportText, never cut: nullopt when the whole of it would pass `max_bytes` (for
// text that means nothing cut, such as a line's options).
std::optional<std::string> ReportTextUncut(absl::string_view text, size_t max_bytes);

}  // namespace keyfleet::agent
