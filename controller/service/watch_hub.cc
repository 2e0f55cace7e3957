#include "controller/service/watch_hub.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// Freed heap is handed back to the system after this much was released by finished writes, or
// this many streams ended, since the last time (and at most every kTrimInterval). glibc keeps
// freed memory in its arenas otherwise: after 400 streams with 621 KB states went, the
// controller stayed at its peak RSS (+630 MB) until it was restarted.
constexpr uint64_t kTrimAfterFreedBytes = uint64_t{32} << 20;
constexpr size_t kTrimAfterRemovals = 256;
constexpr absl::Duration kTrimInterval = absl::Seconds(2);
// For a while after streams ended or writes finished, freed heap is handed back every
// kTrimFollowUpEvery whatever the amount: the last streams of a crowd that went must not keep
// their memory, nor their connections, which gRPC closes after them (measured: 2,000 TLS
// connections, 188 MB, stayed in glibc's arenas without this).
constexpr absl::Duration kTrimFollowUpEvery = absl::Seconds(5);
constexpr absl::Duration kTrimFollowUpFor = absl::Seconds(60);

// After streams were ended for stalling, how long waiting writes are held back.
constexpr absl::Duration kReclaimPause = absl::Seconds(1);

// How many stalled streams' hosts one log line names.
constexpr size_t kStalledHostsLogged = 5;

WriteBudget::Writer AsWriter(WatchHub::Subscriber* s) {
  return static_cast<const void*>(s);
}

WatchHub::Subscriber* AsSubscriber(WriteBudget::Writer w) {
  return static_cast<WatchHub::Subscriber*>(const_cast<void*>(w));
}

void ReleaseFreedHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

WatchHub::WatchHub(WriteBudgetLimits limits, absl::Duration maintenance_period)
    : limits_(limits), budget_(limits) {
  thread_ = std::thread([this, maintenance_period] { Run(maintenance_period); });
}

WatchHub::~WatchHub() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WatchHub::Add(const std::string& hostname, const std::shared_ptr<Subscriber>& subscriber) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (subscribers_[hostname].insert(subscriber.get()).second) ++count_;
  std::lock_guard<std::mutex> live_lock(live_mu_);
  live_[subscriber.get()] = Live{hostname, subscriber};
}

void WatchHub::Remove(const std::string& hostname, Subscriber* subscriber) {
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    ++removals_;
    auto it = subscribers_.find(hostname);
    if (it != subscribers_.end()) {
      if (it->second.erase(subscriber)) --count_;
      if (it->second.empty()) subscribers_.erase(it);
    }
    std::lock_guard<std::mutex> live_lock(live_mu_);
    live_.erase(subscriber);
  }
  budget_.Forget(AsWriter(subscriber));
  SignalRoom();  // a reservation it held may have been returned
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

bool WatchHub::BeginWrite(Subscriber* subscriber, size_t bytes, bool acknowledged) {
  return budget_.TryStart(AsWriter(subscriber), bytes, acknowledged, absl::Now());
}

bool WatchHub::WaitIfFull(Subscriber* subscriber, size_t bytes, bool acknowledged) {
  return budget_.QueueIfFull(AsWriter(subscriber), bytes, acknowledged);
}

void WatchHub::EndWrite(Subscriber* subscriber) {
  budget_.Finish(AsWriter(subscriber));
  SignalRoom();
}

void WatchHub::NothingToWrite(Subscriber* subscriber) {
  budget_.ReturnReservation(AsWriter(subscriber));
  SignalRoom();
}

// gRPC's threads (which complete writes) only signal; the hub's thread wakes.
void WatchHub::SignalRoom() {
  if (!budget_.AnyWaiting()) return;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    room_freed_ = true;
  }
  thread_cv_.notify_one();
}

// Without the hub's lock, which HostsChanged holds for a whole push to the fleet: the streams
// woken here build their states meanwhile, and a reference keeps each alive while it does.
void WatchHub::WakeWaiting() {
  std::vector<WriteBudget::Writer> woken = budget_.TakeWakeable();
  if (woken.empty()) return;
  std::vector<std::shared_ptr<Subscriber>> alive;
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    for (WriteBudget::Writer w : woken) {
      auto it = live_.find(AsSubscriber(w));
      std::shared_ptr<Subscriber> s = it == live_.end() ? nullptr : it->second.self.lock();
      if (s) {
        alive.push_back(std::move(s));
      } else {
        budget_.Forget(w);  // went between TakeWakeable and here
      }
    }
  }
  for (const auto& s : alive) s->WriteRoomFreed();
}

void WatchHub::Maintain(absl::Time now) {
  std::vector<WriteBudget::Writer> stalled = budget_.Stalled(now);
  if (!stalled.empty()) {
    const WriteBudget::Stats before = budget_.stats();
    std::vector<std::string> hosts;
    size_t ended = 0;
    {
      // Under the hub's lock: a subscriber still listed cannot finish its Remove (so its call
      // stays valid) until the cancel is made.
      std::lock_guard<std::recursive_mutex> lock(mu_);
      std::vector<Subscriber*> listed;
      {
        std::lock_guard<std::mutex> live_lock(live_mu_);
        for (WriteBudget::Writer w : stalled) {
          auto it = live_.find(AsSubscriber(w));
          if (it == live_.end()) continue;
          listed.push_back(it->first);
          if (hosts.size() < kStalledHostsLogged) hosts.push_back(it->second.hostname);
        }
      }
      for (Subscriber* s : listed) s->AbortStalledWrite();  // may run its OnDone inline
      ended = listed.size();
    }
    if (ended > 0) {
      spdlog::warn(
          "ended {} Watch stream(s) whose write had stalled (agent not reading: unfinished for "
          "{}, or for {} while {} other write(s) waited for room; {} bytes were held): {}{}; "
          "their agents reconnect and get the newest state",
          ended, absl::FormatDuration(limits_.stall_limit),
          absl::FormatDuration(limits_.stall_limit_when_full), before.waiting, before.charged_bytes,
          absl::StrJoin(hosts, ", "), ended > hosts.size() ? ", …" : "");
      // Their memory is freed as gRPC tears the streams down, partly after this returns. Waiting
      // writes start only at the next pass, after that memory was handed back: started now, they
      // would allocate beside it (measured: RSS rose by a third of the budget at each round).
      std::lock_guard<std::mutex> lock(thread_mu_);
      wakes_held_until_ = now + kReclaimPause;
      trim_due_ = true;
      return;
    }
  }
  uint64_t removals;
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    removals = removals_;
  }
  const uint64_t finished = budget_.stats().finished_bytes;
  if (finished != seen_finished_bytes_ || removals != seen_removals_) {
    seen_finished_bytes_ = finished;
    seen_removals_ = removals;
    last_freed_ = now;
  }
  const bool freed_much = finished - trimmed_at_finished_bytes_ >= kTrimAfterFreedBytes ||
                          removals - trimmed_at_removals_ >= kTrimAfterRemovals;
  const bool freed_lately = now - last_freed_ <= kTrimFollowUpFor;
  if (trim_due_ || (freed_much && now - last_trim_ >= kTrimInterval) ||
      (freed_lately && now - last_trim_ >= kTrimFollowUpEvery)) {
    trim_due_ = false;
    trimmed_at_finished_bytes_ = finished;
    trimmed_at_removals_ = removals;
    last_trim_ = now;
    const absl::Time start = absl::Now();
    ReleaseFreedHeap();
    spdlog::debug("released freed heap memory in {}", absl::FormatDuration(absl::Now() - start));
  }
  // After the release: the writes woken now reuse memory the stalled ones gave back.
  WakeWaiting();
}

void WatchHub::Run(absl::Duration period) {
  absl::Time next_maintenance = absl::Now() + period;
  std::unique_lock<std::mutex> lock(thread_mu_);
  auto wake_due = [this] { return room_freed_ && absl::Now() >= wakes_held_until_; };
  while (!stopping_) {
    const bool wake = wake_due();
    const bool maintain = absl::Now() >= next_maintenance;
    if (!wake && !maintain) {
      absl::Time until = next_maintenance;
      if (room_freed_) until = std::min(until, wakes_held_until_);
      thread_cv_.wait_for(lock, absl::ToChronoMilliseconds(until - absl::Now()),
                          [&] { return stopping_ || wake_due(); });
      continue;
    }
    room_freed_ = room_freed_ && !wake;
    lock.unlock();
    if (maintain) {  // it wakes too, after releasing memory
      Maintain(absl::Now());
      next_maintenance = absl::Now() + period;
    } else {
      WakeWaiting();
    }
    lock.lock();
  }
}

}  // namespace keyfleet::controller
