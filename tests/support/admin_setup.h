// Inventory set-up through the real admin API, for tests and benchmarks that need a principal
// whose keys are granted to an account before an agent connects.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::testing {

// Adds PRINCIPAL, its KEY_LINES, and a grant of them to ACCOUNT on the hosts HOSTS selects.
// Returns the AddKeys response (one key per line, in order), or the first call's error.
absl::StatusOr<v1::AddKeysResponse> AddPrincipalWithGrant(v1::AdminService::Stub& admin,
                                                          const std::string& principal,
                                                          const std::vector<std::string>& key_lines,
                                                          const v1::HostSelector& hosts,
                                                          const std::string& account);

// A selector for the hosts that carry label KEY=VALUE.
v1::HostSelector LabelSelector(const std::string& key, const std::string& value);

}  // namespace keyfleet::testing
