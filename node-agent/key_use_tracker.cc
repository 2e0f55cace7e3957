#include "node-agent/key_use_tracker.h"

#include <algorithm>

namespace keyfleet::agent {

KeyUseTracker::KeyUseTracker(KeyUseLimits limits, const Clock& clock)
    : limits_(limits), clock_(clock) {}

void KeyUseTracker::Record(const SshdLogRecord& record) {
  const SshdLogEvent& e = record.event;
  std::lock_guard<std::mutex> lock(mu_);
  if (e.kind == SshdLogEventKind::kSessionEnd) {
    live_.erase(std::remove_if(live_.begin(), live_.end(),
                               [&](const LiveSession& s) {
                                 return s.address == e.address && s.port == e.port &&
                                        (e.user.empty() || e.user == s.account) &&
                                        (!s.pid || !record.pid || *s.pid == *record.pid);
                               }),
                live_.end());
    return;
  }
  if (e.kind != SshdLogEventKind::kAccepted) return;
  const absl::Time time = record.time.value_or(clock_.Now());

  PendLocked(KeyUse{e.user, e.fingerprint, e.digest, e.address, time});

  // A new connection from the same address and port replaces an older one (the port was reused).
  live_.erase(std::remove_if(
                  live_.begin(), live_.end(),
                  [&](const LiveSession& s) { return s.address == e.address && s.port == e.port; }),
              live_.end());
  if (live_.size() >= limits_.max_live_sessions) {
    live_.erase(live_.begin());
    ++dropped_sessions_;
  }
  live_.push_back(
      LiveSession{e.user, e.fingerprint, e.digest, e.address, e.port, record.pid, time});
}

void KeyUseTracker::PendLocked(KeyUse use) {
  UseKey key{use.account, use.digest};
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    if (pending_.size() >= limits_.max_pending_uses) {
      // Full: forget the oldest pending use (the newest say the most about staleness).
      auto oldest = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
        return a.second.time < b.second.time;
      });
      pending_.erase(oldest);
      ++dropped_uses_;
    }
    pending_.emplace(std::move(key), std::move(use));
  } else if (use.time >= it->second.time) {
    it->second.address = std::move(use.address);
    it->second.time = use.time;
  }
}

void KeyUseTracker::ReturnUses(KeyUseBatch batch) {
  std::lock_guard<std::mutex> lock(mu_);
  dropped_uses_ += batch.dropped;
  for (KeyUse& use : batch.uses) PendLocked(std::move(use));
}

KeyUseBatch KeyUseTracker::TakeChangedUses(size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  KeyUseBatch batch;
  batch.dropped = dropped_uses_;
  dropped_uses_ = 0;
  std::vector<std::map<UseKey, KeyUse>::iterator> order;
  order.reserve(pending_.size());
  for (auto it = pending_.begin(); it != pending_.end(); ++it) order.push_back(it);
  std::sort(order.begin(), order.end(),
            [](auto a, auto b) { return a->second.time < b->second.time; });
  if (order.size() > max) order.resize(max);
  for (auto it : order) {
    batch.uses.push_back(std::move(it->second));
    pending_.erase(it);
  }
  return batch;
}

std::vector<LiveSession> KeyUseTracker::SessionsOfKeys(
    const std::vector<std::string>& digests) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LiveSession> out;
  for (const LiveSession& s : live_) {
    if (std::find(digests.begin(), digests.end(), s.digest) != digests.end()) out.push_back(s);
  }
  return out;
}

void KeyUseTracker::ForgetSessions(const std::function<bool(const LiveSession&)>& ended) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(std::remove_if(live_.begin(), live_.end(), ended), live_.end());
}

size_t KeyUseTracker::live_session_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

uint64_t KeyUseTracker::dropped_sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_sessions_;
}

}  // namespace keyfleet::agent
