// One thread that runs jobs in order, so work that waits for the database (registering a host
// that named itself in a --insecure-dev hello) never holds one of gRPC's callback threads: with
// PostgreSQL down such a job may wait for the pool's whole retry budget, and a handful of them
// would otherwise freeze every stream and every call served from memory.
//
// The queue is bounded: a job offered while `capacity` are waiting is refused (Submit returns
// false) and the caller answers at once. Jobs still queued when the queue is destroyed are
// dropped without running; the one running is finished first.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace keyfleet::controller {

class BackgroundQueue {
 public:
  explicit BackgroundQueue(size_t capacity);
  ~BackgroundQueue();
  BackgroundQueue(const BackgroundQueue&) = delete;
  BackgroundQueue& operator=(const BackgroundQueue&) = delete;

  // False, and `job` is not kept, when `capacity` jobs are already waiting.
  bool Submit(std::function<void()> job);

 private:
  void Run();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace keyfleet::controller
