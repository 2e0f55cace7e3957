// The inventory rules' error messages, shared by every Store so both say the same thing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/model.h"

namespace keyfleet::controller {

absl::Status PrincipalExistsError(const std::string& name);
absl::Status PrincipalNotFoundError(const std::string& name);
absl::Status PrincipalDisabledError(const std::string& name);
absl::Status PrincipalAlreadyDisabledError(const std::string& name);
// The key exists already: under `adding_to` itself, or under another owner.
// OK for an active (or merely expired) key; FAILED_PRECONDITION for a revoked one (compromise
// is final: add a new key) or one already superseded (rotate its successor instead).
absl::Status CheckRotatable(const KeyRecord& key);
absl::Status KeyOwnedError(const std::string& fingerprint, const std::string& owner,
                           const std::string& adding_to);
absl::Status KeyRevokedError(const std::string& fingerprint, const std::string& reason,
                             absl::Time revoked_at);
absl::Status KeyNotFoundError(const std::string& fingerprint);
absl::Status KeyAlreadyRevokedError(const std::string& fingerprint, absl::Time revoked_at);
absl::Status GrantNotFoundError(int64_t id);
absl::Status HostNotFoundError(const std::string& hostname);
absl::Status JoinTokenNotFoundError(const std::string& id);
absl::Status UnknownJoinTokenError();
absl::Status CredentialNameTakenError(const std::string& name);
absl::Status CredentialNotFoundError(const std::string& name_or_id);
// ABORTED: a mutation tagged with request `id` found that id already recorded (a concurrent or
// earlier attempt of the same request committed); nothing more was changed. The service edge
// answers with that first outcome instead.
absl::Status RequestAlreadyDoneError(const std::string& id);
bool IsRequestAlreadyDone(const absl::Status& status);

}  // namespace keyfleet::controller
