// Which hosts a grant reaches: every selector label must equal the host's, and the hostname
// must match the glob when one is given.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/host_names.h"
#include "controller/model.h"

namespace keyfleet::controller {

// ValidateLabels and ValidateHostname live in common/host_names.h (the agent needs them too).

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
