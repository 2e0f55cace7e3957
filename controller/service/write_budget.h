// How many bytes of unfinished writes to agents the controller holds, controller-wide, and which
// writes have stalled. A Watch stream has at most one write in flight (the newest desired state,
// serialized) and gRPC keeps its bytes until the agent's HTTP/2 window lets them out: an agent
// that never reads keeps them for as long as its connection lives, which its keepalive answers
// prolong for ever (measured, issue 15: streams that never read held 1.6 MB each with a 621 KB
// state, 2,000 of them 3.1 GB). So every write asks this budget first:
//
// - A write that fits starts and is charged until it completes or fails. One that does not fit
//   waits: the stream sends nothing meanwhile (nor builds its state, when its last one would not
//   fit either) and, once room is reserved for it, sends the newest state then (never a queue).
//   Streams whose agent acknowledged a state (reported applying it: it reads) may also use a
//   reserve beyond the capacity and are woken first, so agents that read keep getting pushes
//   promptly while streams that never read fill the rest.
// - Any write unfinished after `stall_limit` is reported as stalled, and so is any charged write
//   unfinished after `stall_limit_when_full` while another write waits for room: the service
//   then ends that stream (the agent reconnects and is sent the newest state), which frees its
//   memory and its share of the budget.
//
// Only bookkeeping: no gRPC, no threads, time passed in. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace keyfleet::controller {

struct WriteBudgetLimits {
  // Charged bytes that may be unfinished at once. 32 MiB: a fleet-wide revocation of small
  // states (3 KiB each to 10,000 agents) fits without waiting, and larger pushes wait only for
  // the earlier writes to drain; 2,000 streams that never read (over 100 connections) then held
  // the controller at +79 MB with 621 KB states, +81 MB with 53 KB ones (the rest is gRPC's
  // 10-12 KB per stream). Pushes of large states to many slow agents are paced by it: 32 MiB
  // is 54 writes of 600 KB at a time.
  size_t capacity_bytes = size_t{32} << 20;
  // Beyond the capacity, for streams whose agent acknowledged a state sent on them.
  size_t acknowledged_reserve_bytes = size_t{16} << 20;
  // A write (a heartbeat too) unfinished this long has stalled, whatever else is happening: a
  // 4 MiB state (the largest) needs only 70 KB/s to make it.
  absl::Duration stall_limit = absl::Seconds(60);
  // While other writes wait for room, a charged write unfinished this long has stalled: healthy
  // agents finish theirs in milliseconds, and one ended here reconnects and gets its state then.
  absl::Duration stall_limit_when_full = absl::Seconds(5);
};

class WriteBudget {
 public:
  using Writer = const void*;  // one stream; at most one write in flight each

  explicit WriteBudget(WriteBudgetLimits limits = WriteBudgetLimits()) : limits_(limits) {}

  // Starts `writer`'s write of `bytes` (0 for a heartbeat: never refused, but tracked for
  // stalls) at `now`. It is admitted when room was reserved for it (see TakeWakeable), or when
  // nobody waits and it fits under the capacity (plus the reserve if `acknowledged`), or when
  // nothing at all is charged (a single state larger than the capacity still goes). Otherwise
  // the writer is queued (once; `bytes` updated) and false is returned: it must not write until
  // TakeWakeable names it.
  bool TryStart(Writer writer, size_t bytes, bool acknowledged, absl::Time now);

  // Queues `writer` without starting anything, and returns true, when a write of about `bytes`
  // would be refused now (as TryStart would refuse it); false when it would be admitted (nothing
  // is charged then). Lets a stream wait before building a state the budget has no room for.
  bool QueueIfFull(Writer writer, size_t bytes, bool acknowledged);

  // The writer's write completed or failed: its bytes are free.
  void Finish(Writer writer);

  // A writer that TakeWakeable named and that had nothing to send after all gives its room back.
  void ReturnReservation(Writer writer);

  // The writer is gone: its queue place, reservation and charge are dropped.
  void Forget(Writer writer);

  // Queued writers for which room is now reserved, in the order they should be woken:
  // acknowledged ones first, then the others, first come first served (a writer that does not
  // fit stops its class, so large states are not starved by small ones).
  std::vector<Writer> TakeWakeable();

  // Writes to end, oldest first: unfinished for stall_limit, or charged and unfinished for
  // stall_limit_when_full while some writer waits.
  std::vector<Writer> Stalled(absl::Time now) const;

  bool AnyWaiting() const;

  struct Stats {
    size_t charged_bytes = 0;     // in flight and reserved
    size_t in_flight = 0;         // writes in flight, heartbeats included
    size_t waiting = 0;           // writers queued for room
    uint64_t finished_bytes = 0;  // ever charged and since finished or forgotten
  };
  Stats stats() const;

 private:
  struct InFlight {
    size_t bytes;
    absl::Time started;
  };
  struct Queued {
    size_t bytes;
    uint64_t ticket;  // matches the deque entry that is current for this writer
    bool acknowledged;
  };

  size_t LimitFor(bool acknowledged) const;
  bool AdmissibleLocked(Writer writer, size_t bytes, bool acknowledged) const;
  void EnqueueLocked(Writer writer, size_t bytes, bool acknowledged);
  void ReleaseLocked(size_t bytes);
  void DropInFlightLocked(Writer writer);
  void DropQueuedLocked(Writer writer);

  const WriteBudgetLimits limits_;
  mutable std::mutex mu_;
  size_t charged_ = 0;
  uint64_t finished_bytes_ = 0;
  std::unordered_map<Writer, InFlight> in_flight_;
  std::set<std::pair<absl::Time, Writer>> by_start_;  // in_flight_, oldest first
  std::unordered_map<Writer, size_t> reserved_;
  std::unordered_map<Writer, Queued> queued_;
  // (writer, ticket); entries whose ticket is no longer the writer's are skipped.
  std::deque<std::pair<Writer, uint64_t>> acknowledged_queue_;
  std::deque<std::pair<Writer, uint64_t>> other_queue_;
  uint64_t next_ticket_ = 0;
};

}  // namespace keyfleet::controller
