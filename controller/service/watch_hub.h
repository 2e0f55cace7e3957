// Who is watching which host: the fleet view's listener notifies the streams of hosts whose
// desired state changed, and a timer sends heartbeats. Subscribers are callback reactors; the
// hub never blocks on a stream.
//
// The hub also admits every write to a stream through one controller-wide WriteBudget
// (write_budget.h), so streams whose agents do not read cannot make the controller hold more
// than the budget: a write that does not fit waits, and is woken when room frees. Its own
// thread, once a second, ends streams whose writes stalled and, after much memory was freed,
// gives the freed heap back to the system.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/time/time.h"
#include "controller/service/write_budget.h"

namespace keyfleet::controller {

class WatchHub {
 public:
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void Notify() = 0;     // desired state may have changed
    virtual void Heartbeat() = 0;  // send a heartbeat when idle
    // Room in the write budget is reserved for the write this subscriber was refused: send the
    // newest state now (or give the room back with NothingToWrite).
    virtual void WriteRoomFreed() = 0;
    // Its write stalled (WriteBudget::Stalled): end the stream at once, which frees the write.
    virtual void AbortStalledWrite() = 0;
  };

  // Starts the hub's thread: it wakes streams for which write room was freed, and every
  // `maintenance_period` runs Maintain.
  explicit WatchHub(WriteBudgetLimits limits = WriteBudgetLimits(),
                    absl::Duration maintenance_period = absl::Seconds(1));
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // A subscriber stays valid until Remove returns: Notify, Heartbeat and AbortStalledWrite are
  // called under the hub's lock. The lock is recursive because gRPC may run a reactor's OnDone
  // (which calls Remove) inline from a call the hub made into it. WriteRoomFreed is called
  // without it, by the hub's thread, holding a reference from `subscriber` instead (the hub
  // keeps a weak one), so that waking streams never waits for a push to the whole fleet: a
  // subscriber must then ignore a WriteRoomFreed that comes after its stream ended.
  void Add(const std::string& hostname, const std::shared_ptr<Subscriber>& subscriber);
  void Remove(const std::string& hostname, Subscriber* subscriber);

  void HostsChanged(const std::vector<std::string>& hostnames);
  void HeartbeatAll();
  std::vector<std::string> ConnectedHosts() const;
  size_t size() const;

  // Write admission (WriteBudget::TryStart): true when the subscriber may start its write of
  // `bytes` now (0 for a heartbeat); false when it must send nothing until WriteRoomFreed.
  // `acknowledged`: the agent reported applying a state sent on this stream. Takes only the
  // budget's lock, so a reactor may call it under its own.
  bool BeginWrite(Subscriber* subscriber, size_t bytes, bool acknowledged);
  // WriteBudget::QueueIfFull: true when a state of about `bytes` would wait, and the subscriber
  // now waits for WriteRoomFreed (without having built it).
  bool WaitIfFull(Subscriber* subscriber, size_t bytes, bool acknowledged);
  // The subscriber's write completed or failed: its bytes are free, and waiting subscribers that
  // now fit are woken by the hub's thread. Takes only the budget's lock and the thread's.
  void EndWrite(Subscriber* subscriber);
  // A subscriber woken by WriteRoomFreed had nothing to send after all: its room goes back.
  void NothingToWrite(Subscriber* subscriber);

  // One maintenance pass at `now`: aborts stalled writes, releases freed heap memory when much
  // was freed, wakes waiting subscribers that fit. The thread runs it every maintenance period.
  void Maintain(absl::Time now);

  WriteBudget::Stats write_stats() const { return budget_.stats(); }

 private:
  void SignalRoom();
  void WakeWaiting();
  void Run(absl::Duration maintenance_period);

  mutable std::recursive_mutex mu_;
  std::unordered_map<std::string, std::set<Subscriber*>> subscribers_;

  struct Live {
    std::string hostname;
    std::weak_ptr<Subscriber> self;
  };
  mutable std::mutex live_mu_;                  // taken after mu_ when both are
  std::unordered_map<Subscriber*, Live> live_;  // every subscriber
  size_t count_ = 0;

  const WriteBudgetLimits limits_;
  WriteBudget budget_;

  // Maintenance state, touched only by Maintain's caller (the thread, or a test).
  uint64_t trimmed_at_finished_bytes_ = 0;
  uint64_t trimmed_at_removals_ = 0;
  uint64_t seen_finished_bytes_ = 0;
  uint64_t seen_removals_ = 0;
  absl::Time last_freed_ = absl::InfinitePast();  // when those last changed
  absl::Time last_trim_ = absl::InfinitePast();
  bool trim_due_ = false;  // streams were ended: release the heap at the next pass
  uint64_t removals_ = 0;  // under mu_

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stopping_ = false;
  bool room_freed_ = false;  // a write ended or a reservation came back while others wait
  absl::Time wakes_held_until_ = absl::InfinitePast();  // see Maintain
  std::thread thread_;
};

}  // namespace keyfleet::controller
