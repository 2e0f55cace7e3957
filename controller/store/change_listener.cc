#include "controller/store/change_listener.h"

#include <pqxx/pqxx>

#include "controller/store/pg_pool.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, bool* fired)
      : pqxx::notification_receiver(conn, kChangeChannel), fired_(fired) {}
  void operator()(const std::string&, int) override { *fired_ = true; }

 private:
  bool* fired_;
};

}  // namespace

ChangeListener::ChangeListener(std::string url, std::function<void()> on_change,
                               absl::Duration poll_interval)
    : url_(std::move(url)), on_change_(std::move(on_change)), poll_interval_(poll_interval) {}

ChangeListener::~ChangeListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ChangeListener::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ChangeListener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_) {
    try {
      pqxx::connection conn(url_);
      bool fired = false;
      Receiver receiver(conn, &fired);
      backoff = absl::Milliseconds(100);
      on_change_();  // catch up on anything committed while we were not listening
      absl::Time last = absl::Now();
      while (!stop_) {
        conn.await_notification(0, 200 * 1000);
        if (fired || absl::Now() - last >= poll_interval_) {
          fired = false;
          last = absl::Now();
          on_change_();
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("change listener: {} (reconnecting in {})",
                   std::string(DescribeConnectionError(url_, e).message()),
                   absl::FormatDuration(backoff));
      for (absl::Duration slept; slept < backoff && !stop_; slept += absl::Milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }
}

}  // namespace keyfleet::controller
