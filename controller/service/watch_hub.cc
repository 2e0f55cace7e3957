#include "controller/service/watch_hub.h"

namespace keyfleet::controller {

void WatchHub::Add(const std::string& hostname, Subscriber* subscriber) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (subscribers_[hostname].insert(subscriber).second) ++count_;
}

void WatchHub::Remove(const std::string& hostname, Subscriber* subscriber) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto it = subscribers_.find(hostname);
  if (it == subscribers_.end()) return;
  if (it->second.erase(subscriber)) --count_;
  if (it->second.empty()) subscribers_.erase(it);
}

void WatchHub::HostsChanged(const std::vector<std::string>& hostnames) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (const std::string& hostname : hostnames) {
    auto it = subscribers_.find(hostname);
    if (it == subscribers_.end()) continue;
    // A copy: a subscriber may remove itself (inline OnDone) while we iterate.
    std::vector<Subscriber*> subs(it->second.begin(), it->second.end());
    for (Subscriber* s : subs) s->Notify();
  }
}

void WatchHub::HeartbeatAll() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<Subscriber*> all;
  for (auto& [hostname, subs] : subscribers_) all.insert(all.end(), subs.begin(), subs.end());
  for (Subscriber* s : all) s->Heartbeat();
}

std::vector<std::string> WatchHub::ConnectedHosts() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(subscribers_.size());
  for (const auto& [hostname, subs] : subscribers_) out.push_back(hostname);
  return out;
}

size_t WatchHub::size() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return count_;
}

}  // namespace keyfleet::controller
