// A GET request's query parameters as a protobuf request message (the dashboard's API): each
// parameter names a singular field of the message (by its proto name) of a scalar, enum,
// Timestamp or Duration type, at most once; values are read as the protobuf JSON mapping reads
// them (numbers in range, enum names, RFC 3339 times, "90s" durations; booleans only "true" or
// "false"). Anything else is INVALID_ARGUMENT naming the parameter and, for an unknown one, the
// parameters the message takes.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace keyfleet::controller::dashboard {

absl::Status MessageFromQuery(const std::vector<std::pair<std::string, std::string>>& params,
                              google::protobuf::Message* message);

}  // namespace keyfleet::controller::dashboard
