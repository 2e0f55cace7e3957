// The rules a join token and an enrollment must satisfy, in one place for every Store: the
// store applies them inside the transaction that consumes the token and records the host.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/model.h"

namespace keyfleet::controller {

inline constexpr absl::Duration kDefaultJoinTokenTtl = absl::Hours(1);
inline constexpr absl::Duration kMaxJoinTokenTtl = absl::Hours(24 * 7);
inline constexpr uint32_t kMaxJoinTokenUses = 1000;

// UNAUTHENTICATED, saying which, when the token cannot enroll anything at `now`: the secret's
// hash differs (compared in constant time), it was revoked, it expired, or it is used up.
absl::Status CheckJoinToken(const JoinTokenRecord& token, const std::string& secret_hash,
                            absl::Time now);

// The hostname an enrollment records. A token naming a host enrolls that host only (a request
// for another name is PERMISSION_DENIED); it may re-enroll an existing host, whose older
// certificates then stop working. A token naming no host enrolls a new host under the
// requested name (INVALID_ARGUMENT when none is given) and never takes over an existing one
// (ALREADY_EXISTS saying how to re-enroll it). A token made by a host-scoped operator
// re-enrolls only a host whose labels carry that scope (PERMISSION_DENIED otherwise).
absl::StatusOr<std::string> EnrollmentHostname(const JoinTokenRecord& token,
                                               const std::string& requested,
                                               const std::optional<HostRecord>& existing);

// The host record an enrollment writes: `existing` (if any) under `hostname`, with the new
// enrollment id, enrolled at `at`; labels from the token (a re-enrolled host keeps its own when
// the token carries none, or when a scoped operator made the token).
HostRecord EnrolledHost(const JoinTokenRecord& token, const std::string& hostname,
                        const std::optional<HostRecord>& existing, const EnrollmentRequest& request,
                        absl::Time at);

// "active", "used", "expired" or "revoked" at `now`.
const char* JoinTokenState(const JoinTokenRecord& token, absl::Time now);

}  // namespace keyfleet::controller
