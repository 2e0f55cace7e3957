// Which hosts a grant reaches: every selector label must equal the host's, and the hostname
// must match the glob when one is given.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/model.h"

namespace keyfleet::controller {

inline constexpr size_t kMaxLabelBytes = 63;
inline constexpr size_t kMaxLabels = 32;
inline constexpr size_t kMaxHostnameBytes = 253;

// Label keys and values: 1..kMaxLabelBytes of [A-Za-z0-9._-], keys starting with a letter or
// digit. INVALID_ARGUMENT naming the label otherwise.
absl::Status ValidateLabels(const Labels& labels);

// A hostname as agents report it: 1..253 bytes of [A-Za-z0-9.-], not starting with '-' or '.'.
absl::Status ValidateHostname(absl::string_view hostname);

// Labels valid, and the glob (if any) made of hostname characters and the glob characters
// * ? [ ] ! only. A selector with neither labels nor glob selects every host; that is allowed
// but must be asked for with the glob "*".
absl::Status ValidateHostSelector(const HostSelector& selector);

bool SelectorMatches(const HostSelector& selector, const std::string& hostname,
                     const Labels& host_labels);

// Parses "env=prod,role=web" (the CLI's --hosts form); a part without '=' is the hostname glob:
// "env=prod,web-*". At most one glob.
absl::StatusOr<HostSelector> ParseHostSelector(absl::string_view text);
std::string FormatHostSelector(const HostSelector& selector);

}  // namespace keyfleet::controller
