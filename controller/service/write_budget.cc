#include "controller/service/write_budget.h"

#include <algorithm>

namespace keyfleet::controller {

size_t WriteBudget::LimitFor(bool acknowledged) const {
  return limits_.capacity_bytes + (acknowledged ? limits_.acknowledged_reserve_bytes : 0);
}

// A writer without a reservation: writers that already wait go first (a newcomer waits behind
// those of its class, and an unacknowledged stream behind every waiting one); then it
// must fit, unless nothing at all is charged.
bool WriteBudget::AdmissibleLocked(Writer writer, size_t bytes, bool acknowledged) const {
  const bool others_wait = acknowledged ? !acknowledged_queue_.empty() : !queued_.empty();
  const bool fits = charged_ == 0 || charged_ + bytes <= LimitFor(acknowledged);
  return !queued_.count(writer) && !others_wait && fits;
}

void WriteBudget::EnqueueLocked(Writer writer, size_t bytes, bool acknowledged) {
  auto [it, inserted] = queued_.try_emplace(writer, Queued{bytes, next_ticket_, acknowledged});
  if (inserted) {
    (acknowledged ? acknowledged_queue_ : other_queue_).emplace_back(writer, next_ticket_++);
  } else {
    it->second.bytes = bytes;
  }
}

bool WriteBudget::TryStart(Writer writer, size_t bytes, bool acknowledged, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  DropInFlightLocked(writer);  // one write per writer: a previous one has ended
  if (bytes == 0) {            // a heartbeat: tracked, never refused, and a queue place is kept
    in_flight_[writer] = InFlight{0, now};
    by_start_.emplace(now, writer);
    return true;
  }
  bool admit = false;
  if (auto r = reserved_.find(writer); r != reserved_.end()) {
    charged_ -= r->second;
    reserved_.erase(r);
    admit = true;  // its room was set aside; the newest state may differ a little in size
  } else {
    admit = AdmissibleLocked(writer, bytes, acknowledged);
  }
  if (!admit) {
    EnqueueLocked(writer, bytes, acknowledged);
    return false;
  }
  DropQueuedLocked(writer);
  charged_ += bytes;
  in_flight_[writer] = InFlight{bytes, now};
  by_start_.emplace(now, writer);
  return true;
}

bool WriteBudget::QueueIfFull(Writer writer, size_t bytes, bool acknowledged) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reserved_.count(writer) || AdmissibleLocked(writer, bytes, acknowledged)) return false;
  EnqueueLocked(writer, bytes, acknowledged);
  return true;
}

void WriteBudget::Finish(Writer writer) {
  std::lock_guard<std::mutex> lock(mu_);
  DropInFlightLocked(writer);
}

void WriteBudget::ReturnReservation(Writer writer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto r = reserved_.find(writer); r != reserved_.end()) {
    charged_ -= r->second;
    reserved_.erase(r);
  }
}

void WriteBudget::Forget(Writer writer) {
  std::lock_guard<std::mutex> lock(mu_);
  DropInFlightLocked(writer);
  DropQueuedLocked(writer);
  if (auto r = reserved_.find(writer); r != reserved_.end()) {
    charged_ -= r->second;
    reserved_.erase(r);
  }
}

std::vector<WriteBudget::Writer> WriteBudget::TakeWakeable() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Writer> woken;
  for (bool acknowledged : {true, false}) {
    auto& queue = acknowledged ? acknowledged_queue_ : other_queue_;
    while (!queue.empty()) {
      const auto [writer, ticket] = queue.front();
      auto it = queued_.find(writer);
      if (it == queued_.end() || it->second.ticket != ticket) {  // forgotten or admitted
        queue.pop_front();
        continue;
      }
      const size_t bytes = it->second.bytes;
      if (charged_ != 0 && charged_ + bytes > LimitFor(acknowledged)) break;
      charged_ += bytes;
      reserved_[writer] += bytes;
      queued_.erase(it);
      queue.pop_front();
      woken.push_back(writer);
    }
    if (!acknowledged_queue_.empty()) break;  // streams that read go first, whatever their size
  }
  return woken;
}

std::vector<WriteBudget::Writer> WriteBudget::Stalled(absl::Time now) const {
  std::lock_guard<std::mutex> lock(mu_);
  const bool others_wait = !queued_.empty();
  const absl::Duration first = others_wait
                                   ? std::min(limits_.stall_limit, limits_.stall_limit_when_full)
                                   : limits_.stall_limit;
  std::vector<Writer> stalled;
  for (const auto& [started, writer] : by_start_) {
    const absl::Duration age = now - started;
    if (age < first) break;  // so are all younger ones
    if (age >= limits_.stall_limit || in_flight_.at(writer).bytes > 0) stalled.push_back(writer);
  }
  return stalled;
}

bool WriteBudget::AnyWaiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !queued_.empty();
}

WriteBudget::Stats WriteBudget::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.charged_bytes = charged_;
  s.in_flight = in_flight_.size();
  s.waiting = queued_.size();
  s.finished_bytes = finished_bytes_;
  return s;
}

void WriteBudget::DropInFlightLocked(Writer writer) {
  auto it = in_flight_.find(writer);
  if (it == in_flight_.end()) return;
  charged_ -= it->second.bytes;
  finished_bytes_ += it->second.bytes;
  by_start_.erase({it->second.started, writer});
  in_flight_.erase(it);
}

void WriteBudget::DropQueuedLocked(Writer writer) {
  if (queued_.erase(writer) == 0) return;
  // The deques keep stale entries until they reach the front; rebuild them when stale ones
  // dominate, so a long wait with many streams coming and going stays bounded.
  for (auto* queue : {&acknowledged_queue_, &other_queue_}) {
    if (queue->size() <= 2 * queued_.size() + 64) continue;
    std::deque<std::pair<Writer, uint64_t>> live;
    for (const auto& entry : *queue) {
      auto it = queued_.find(entry.first);
      if (it != queued_.end() && it->second.ticket == entry.second) live.push_back(entry);
    }
    queue->swap(live);
  }
}

}  // namespace keyfleet::controller
