#include "controller/policy_impact.h"

#include <algorithm>
#include <tuple>

namespace keyfleet::controller {

std::vector<KeyLifeChange> ShortenedLives(
    const PolicyRecord& policy, const std::vector<KeyRecord>& keys,
    const std::function<std::optional<PrincipalKind>(const std::string&)>& kind_of,
    absl::Time now) {
  std::vector<KeyLifeChange> out;
  for (const KeyRecord& key : keys) {
    if (key.state == KeyState::kRevoked || key.expires_at <= now) continue;
    std::optional<PrincipalKind> kind = kind_of(key.principal);
    if (!kind) continue;
    const RotationRule rule = policy.RuleFor(*kind);
    const absl::Time end = std::max(key.created_at + rule.max_key_age, now + rule.warning_window);
    if (end >= key.expires_at) continue;
    out.push_back({key.fingerprint, key.principal, *kind, key.created_at, key.expires_at, end});
  }
  std::sort(out.begin(), out.end(), [](const KeyLifeChange& a, const KeyLifeChange& b) {
    return std::tie(a.principal, a.fingerprint) < std::tie(b.principal, b.fingerprint);
  });
  return out;
}

}  // namespace keyfleet::controller
