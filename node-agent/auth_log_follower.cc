#include "node-agent/auth_log_follower.h"

#include <utility>

namespace keyfleet::agent {

AuthLogFollower::AuthLogFollower(AuthLogSettings settings, const Clock& clock, Callback on_event)
    : settings_(std::move(settings)),
      clock_(clock),
      on_event_(std::move(on_event)),
      file_(settings_.path, settings_.file_limits, settings_.resume),
      journal_(settings_.journal) {}

AuthLogFollower::~AuthLogFollower() {
  Stop();
}

void AuthLogFollower::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AuthLogFollower::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

AuthLogCounters AuthLogFollower::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

std::optional<LogFilePosition> AuthLogFollower::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return position_;
}

void AuthLogFollower::Run() {
  for (;;) {
    PollOnce();
    std::unique_lock<std::mutex> lock(mu_);
    if (wake_.wait_for(lock, absl::ToChronoMilliseconds(settings_.poll_interval),
                       [this] { return stopping_; })) {
      break;
    }
  }
  journal_.Stop();  // the child was started by this thread (its parent-death signal is tied to it)
}

void AuthLogFollower::HandleLine(absl::string_view line, SshdLogFormat format) {
  const SshdLogRecord record = ParseSshdLogLine(line, format, clock_.Now(), settings_.zone);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.lines;
    switch (record.event.kind) {
      case SshdLogEventKind::kAccepted:
        ++counters_.accepted;
        break;
      case SshdLogEventKind::kSessionEnd:
        ++counters_.session_ends;
        break;
      case SshdLogEventKind::kMalformed:
        ++counters_.malformed;
        counters_.last_malformed = record.event.error;
        return;
      case SshdLogEventKind::kIgnored:
        return;
    }
  }
  on_event_(record);
}

void AuthLogFollower::PollOnce() {
  if (settings_.source == AuthLogSettings::Source::kJournald) {
    journal_.Poll(clock_.Now(), [this](absl::string_view line) {
      HandleLine(line, SshdLogFormat::kJournalJson);
    });
    std::lock_guard<std::mutex> lock(mu_);
    const JournalctlCounters& c = journal_.counters();
    counters_.overlong_lines = c.overlong_lines;
    counters_.journalctl_restarts = c.starts > 0 ? c.starts - 1 : 0;
    counters_.read_errors = c.spawn_errors;
    return;
  }
  file_.Poll([this](absl::string_view line) { HandleLine(line, settings_.file_format); });
  std::lock_guard<std::mutex> lock(mu_);
  const LogFileTailCounters& c = file_.counters();
  counters_.overlong_lines = c.overlong_lines;
  counters_.rotations = c.rotations;
  counters_.truncations = c.truncations;
  counters_.read_errors = c.read_errors;
  position_ = file_.position();
}

}  // namespace keyfleet::agent
