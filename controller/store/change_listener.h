// Wakes the fleet view when another writer commits: LISTEN on the change feed's channel, and
// call `on_change` for every notification, after every (re)connect (to catch up on what was
// missed while disconnected), and every `poll_interval` regardless (a missed notification
// then costs at most that long).
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
  ChangeListener(std::string url, std::function<void()> on_change, absl::Duration poll_interval);
  ~ChangeListener();  // stops and joins
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  void Start();

 private:
  void Run();

  const std::string url_;
  const std::function<void()> on_change_;
  const absl::Duration poll_interval_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace keyfleet::controller
