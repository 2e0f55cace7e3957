// Keeps a FleetView in step with the store's change feed: loads the snapshot, pulls changes
// after the view's sequence (on a notification, on a timer, or when a handler needs its own
// write visible), runs the expiry timer, and tells a listener which hosts' desired state
// changed.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "controller/fleet_view.h"
#include "controller/store/store.h"

namespace keyfleet::controller {

class ViewFollower {
 public:
  using HostsChanged = std::function<void(const std::vector<std::string>& hostnames)>;

  ViewFollower(Store& store, FleetView& view, const Clock& clock);

  // Called (outside the view's lock) with hosts whose desired state changed.
  void SetListener(HostsChanged listener);
  // Called (outside the view's lock, before the listener) with each batch of changes the view
  // applied; it must be quick (catch-ups wait for it). The metrics find revocations there.
  using ChangesApplied = std::function<void(const std::vector<Change>& changes)>;
  void SetChangeObserver(ChangesApplied observer);

  // Loads the snapshot into the view.
  absl::Status Load();
  // Applies every change after the view's sequence. Safe to call from any thread.
  absl::Status CatchUp();
  // The database says its epoch is `epoch` (ChangeListener, after every (re)connect and poll).
  // The same as the view's: CatchUp. Another: the database's history is another one (a standby
  // was promoted, so the WAL timeline is new; a restore; `keyfleet-controller new-epoch`), whose
  // change numbers say nothing about the view's, so the view is loaded again from a snapshot, as
  // a restarted replica would, and every host is told: agents get their desired state in the new
  // epoch (which they apply whatever its generation), and this replica agrees with any replica
  // started after the switch.
  absl::Status FollowEpoch(const std::string& epoch);
  // CatchUp until the view has reached `sequence` (a change this replica just committed).
  absl::Status CatchUpTo(uint64_t sequence);
  // Recomputes desired states whose lines expired by now.
  void Tick();

 private:
  absl::Status LoadLocked();

  Store& store_;
  FleetView& view_;
  const Clock& clock_;
  std::mutex mu_;  // one catch-up at a time, so changes apply in order
  HostsChanged listener_;
  ChangesApplied change_observer_;
};

}  // namespace keyfleet::controller
