// What a new rotation policy does to keys that already exist: which lives it would shorten.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/model.h"

namespace keyfleet::controller {

struct KeyLifeChange {
  std::string fingerprint;
  std::string principal;
  PrincipalKind kind = PrincipalKind::kPerson;
  absl::Time created_at;
  absl::Time expires_before;
  absl::Time expires_after;
};

// The keys (active or superseded, not yet expired) whose life under `policy` ends before their
// stored expiry, ordered by principal then fingerprint. A key already older than its kind's new
// max age is not cut off at once: it keeps the kind's warning window from `now`, so that
// shortening lives never locks anyone out without notice. `kind_of` answers a key's owner's kind
// (nullopt: the owner is unknown, the key is left alone).
std::vector<KeyLifeChange> ShortenedLives(
    const PolicyRecord& policy, const std::vector<KeyRecord>& keys,
    const std::function<std::optional<PrincipalKind>(const std::string&)>& kind_of, absl::Time now);

}  // namespace keyfleet::controller
