// Wakes the fleet view when another writer commits: LISTEN on the change feed's channel and call
// `on_change` for every notification; and check the database after every (re)connect (to catch
// up on what was missed while disconnected) and every `poll_interval` regardless (a missed
// notification then costs at most that long).
//
// A check reads the database's epoch (keyfleet_database_epoch()) on the listening connection and
// hands it to `on_check`, which catches up, or reloads when the epoch changed: after a failover
// the listener reconnects to the promoted standby (a multi-host connection string with
// target_session_attrs=read-write), whose WAL timeline, and so epoch, is new. A server that no
// longer accepts writes (a fenced old primary) is left for one that does.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace keyfleet::controller {

inline constexpr char kChangeChannel[] = "keyfleet_changes";

class ChangeListener {
 public:
  // Without `on_check`, a check calls `on_change`.
  ChangeListener(std::string url, std::function<void()> on_change, absl::Duration poll_interval,
                 std::function<void(const std::string& epoch)> on_check = nullptr);
  ~ChangeListener();  // stops and joins
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  void Start();
  // True while the listening connection is up and its last check of the database succeeded;
  // false from the moment it broke until a new connection's check succeeds. The controller's
  // readiness follows it (a continuous probe of the database that costs no extra connection).
  bool connected() const { return connected_; }

 private:
  void Run();

  const std::string url_;
  const std::function<void()> on_change_;
  const absl::Duration poll_interval_;
  const std::function<void(const std::string& epoch)> on_check_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace keyfleet::controller
