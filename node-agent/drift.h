// What the agent found wrong on a host, per account; reported to the controller and printed by
// `keyfleet-agent apply`.
#pragma once

#include <string>

#include "keyfleet/v1/inventory.pb.h"

namespace keyfleet::agent {

struct Drift {
  std::string account;
  v1::DriftKind kind = v1::DRIFT_KIND_UNSPECIFIED;
  std::string path;
  std::string detail;
  bool repaired = false;
};

}  // namespace keyfleet::agent
