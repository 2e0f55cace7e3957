#include "controller/store/change_listener.h"

#include <pqxx/pqxx>
#include <stdexcept>

#include "controller/store/pg_pool.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// Reconnecting is cheap (one connection): a promoted standby is found within the longest pause.
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, bool* fired)
      : pqxx::notification_receiver(conn, kChangeChannel), fired_(fired) {}
  void operator()(const std::string&, int) override { *fired_ = true; }

 private:
  bool* fired_;
};

// The listening connection's server takes no writes: it is a standby, or an old primary fenced
// after a failover. Nothing is committed there, so nothing would be heard.
class NotThePrimary final : public std::runtime_error {
 public:
  NotThePrimary()
      : std::runtime_error(
            "the server does not accept writes (a standby, or an old primary after a "
            "failover); the change feed is followed on the one that does") {}
};

// Reads the epoch on `conn`; throws NotThePrimary when its server is read-only. "" when the
// epoch cannot be read (an older schema): the caller then only catches up.
std::string CheckServer(pqxx::connection& conn) {
  pqxx::nontransaction txn(conn);
  if (txn.exec1("SHOW transaction_read_only")[0].as<std::string>() == "on") {
    throw NotThePrimary();
  }
  try {
    return txn.exec1("SELECT keyfleet_database_epoch()")[0].as<std::string>();
  } catch (const pqxx::sql_error& e) {
    spdlog::warn("change listener: cannot read the database's epoch: {}", e.what());
    return "";
  }
}

}  // namespace

ChangeListener::ChangeListener(std::string url, std::function<void()> on_change,
                               absl::Duration poll_interval,
                               std::function<void(const std::string& epoch)> on_check)
    : url_(std::move(url)),
      on_change_(std::move(on_change)),
      poll_interval_(poll_interval),
      on_check_(std::move(on_check)) {}

ChangeListener::~ChangeListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ChangeListener::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ChangeListener::Run() {
  absl::Duration backoff = kFirstBackoff;
  bool lost = false;
  while (!stop_) {
    try {
      pqxx::connection conn(url_);
      bool fired = false;
      Receiver receiver(conn, &fired);
      // A check right away catches up on anything committed while we were not listening.
      auto check = [&] {
        const std::string epoch = CheckServer(conn);
        if (on_check_ && !epoch.empty()) {
          on_check_(epoch);
        } else {
          on_change_();
        }
      };
      check();
      connected_ = true;
      if (lost) spdlog::info("change listener: listening again");
      lost = false;
      backoff = kFirstBackoff;
      absl::Time last_check = absl::Now();
      while (!stop_) {
        conn.await_notification(0, 200 * 1000);
        if (absl::Now() - last_check >= poll_interval_) {
          fired = false;
          last_check = absl::Now();
          check();
        } else if (fired) {
          fired = false;
          on_change_();
        }
      }
    } catch (const std::exception& e) {
      connected_ = false;
      lost = true;
      spdlog::warn("change listener: {} (reconnecting in {})",
                   std::string(DescribeConnectionError(url_, e).message()),
                   absl::FormatDuration(backoff));
      for (absl::Duration slept; slept < backoff && !stop_; slept += absl::Milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
}

}  // namespace keyfleet::controller
