#include "controller/service/background_queue.h"

#include <utility>

namespace keyfleet::controller {

BackgroundQueue::BackgroundQueue(size_t capacity)
    : capacity_(capacity), thread_([this] { Run(); }) {}

BackgroundQueue::~BackgroundQueue() {
  std::deque<std::function<void()>> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped.swap(jobs_);
  }
  wake_.notify_all();
  thread_.join();
}

bool BackgroundQueue::Submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || jobs_.size() >= capacity_) return false;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void BackgroundQueue::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace keyfleet::controller
