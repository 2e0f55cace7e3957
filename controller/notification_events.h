// Which events are notified, and what each notification says: built from a mutation's audit
// entries (key added, rotated, revoked) or from the periodic scan of the fleet (expiring,
// overdue, drift, host not seen, a rollout that did not converge).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/model.h"
#include "controller/store/mutation_log.h"
#include "controller/store/notification_outbox.h"

namespace keyfleet::controller {

// key.added (not for the successor a rotation adds), key.rotated, key.revoked.
std::vector<OutboxEntry> NotificationsForMutation(const std::vector<AuditEntry>& entries,
                                                  const MutationContext& ctx);

// What the scan looks at, taken from the fleet view and the host reports.
struct ScannedKey {
  KeyRecord key;
  RotationRule rule;  // its owner's kind's
};
struct ScannedHost {
  std::string hostname;
  absl::Time last_seen;
  std::vector<std::string> drift;  // one line per drift item; empty: none
};
struct ScannedRollout {
  uint64_t change = 0;
  absl::Time at;
  std::vector<std::string> pending_hosts;
  std::vector<std::string> failed_hosts;
};
struct FleetScan {
  absl::Time now;
  std::vector<ScannedKey> keys;
  std::vector<ScannedHost> hosts;
  absl::Duration host_stale_after;
  std::optional<ScannedRollout> latest_rollout;
  absl::Duration rollout_deadline;  // a rollout not converged this long after its change
};

// key.expiring (once per key per warning window), key.overdue (once per key), host.drift
// (once per distinct drift), host.not_seen (once per silence), rollout.not_converged (once per
// change). Each carries the dedupe key that makes it once.
std::vector<OutboxEntry> NotificationsForScan(const FleetScan& scan);

}  // namespace keyfleet::controller
