// What every handler needs: the store, this replica's fleet view and its follower, the clock,
// and the settings handlers read. Passed by reference; owned by the controller's main.
#pragma once

#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/fleet_view.h"
#include "controller/store/store.h"
#include "controller/view_follower.h"

namespace keyfleet::controller {

struct HandlerSettings {
  // A host not seen for this long is listed as "not seen" in the compliance report.
  absl::Duration host_stale_after = absl::Minutes(15);
  // A host seen within this long counts as connected for rollouts (replicas mark the hosts
  // they stream to as seen every heartbeat interval).
  absl::Duration connected_window = absl::Seconds(45);
};

struct HandlerContext {
  Store& store;
  FleetView& view;
  ViewFollower& follower;
  const Clock& clock;
  HandlerSettings settings;

  // Now, at the precision the store keeps.
  absl::Time Now() const { return absl::FromUnixMicros(absl::ToUnixMicros(clock.Now())); }
};

}  // namespace keyfleet::controller
