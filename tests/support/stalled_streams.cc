#include "tests/support/stalled_streams.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace keyfleet::testing {

// One stream: the hello, then nothing read.
class StalledWatch final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::WatchResponse> {
 public:
  explicit StalledWatch(v1::AgentService::Stub* stub) {
    hello_.mutable_hello();  // over mTLS the certificate names the host
    stub->async()->Watch(&ctx_, this);
    StartWrite(&hello_);
    StartCall();
  }
  void OnDone(const grpc::Status& /*status*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }
  bool WaitDone(std::chrono::steady_clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, until, [&] { return done_; });
  }

 private:
  grpc::ClientContext ctx_;
  v1::AgentMessage hello_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

StalledStreams::StalledStreams(std::vector<std::shared_ptr<grpc::Channel>> channels)
    : channels_(std::move(channels)) {
  for (const auto& channel : channels_) stubs_.push_back(v1::AgentService::NewStub(channel));
}

StalledStreams::~StalledStreams() {
  (void)Close();
}

void StalledStreams::Open(int count) {
  if (stubs_.empty()) return;
  for (int i = 0; i < count; ++i) {
    const size_t at = streams_.size() % stubs_.size();
    streams_.push_back(std::make_unique<StalledWatch>(stubs_[at].get()));
  }
}

bool StalledStreams::Close() {
  for (auto& s : streams_) s->Cancel();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool all_done = true;
  for (auto& s : streams_) {
    if (!s->WaitDone(deadline)) {
      all_done = false;
      (void)s.release();
    }
  }
  streams_.clear();
  stubs_.clear();
  channels_.clear();
  return all_done;
}

}  // namespace keyfleet::testing
