// Host names and labels: the vocabulary the controller (selectors, enrollment) and the agent
// (its own config) share. Labels come from join tokens and admins, never from an agent's word.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

using Labels = std::map<std::string, std::string>;

inline constexpr size_t kMaxLabelBytes = 63;
inline constexpr size_t kMaxLabels = 32;
inline constexpr size_t kMaxHostnameBytes = 253;

// Label keys and values: 1..kMaxLabelBytes of [A-Za-z0-9._-], keys starting with a letter or
// digit. INVALID_ARGUMENT naming the label otherwise.
absl::Status ValidateLabels(const Labels& labels);

// True when `labels` carry every label of `required` with the same value (a host scope).
bool LabelsCover(const Labels& labels, const Labels& required);

// A hostname: 1..253 bytes of [A-Za-z0-9.-], not starting with '-' or '.'.
absl::Status ValidateHostname(absl::string_view hostname);

// A name a caller sent, made safe for logs, audit events and error messages whatever it holds:
// C-escaped and cut after kMaxHostnameBytes bytes ("…" marks the cut).
std::string PrintableName(absl::string_view name);

}  // namespace keyfleet
