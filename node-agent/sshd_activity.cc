#include "node-agent/sshd_activity.h"

#include <sys/stat.h>

#include <map>

#include "node-agent/accounts.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {

std::optional<AuthLogSettings> AuthLogSettingsFor(const std::string& sshd_log,
                                                  const std::string& format,
                                                  const std::string& root) {
  AuthLogSettings settings;
  settings.file_format = format == "sshd" ? SshdLogFormat::kSshdFile : SshdLogFormat::kSyslog;
  struct stat st {};
  if (sshd_log == "off") return std::nullopt;
  if (sshd_log == "journald" ||
      (sshd_log == "auto" && stat(UnderRoot(root, "/run/systemd/journal").c_str(), &st) == 0)) {
    settings.source = AuthLogSettings::Source::kJournald;
    return settings;
  }
  settings.source = AuthLogSettings::Source::kFile;
  if (sshd_log == "auto") {
    settings.path = UnderRoot(root, "/var/log/auth.log");
    settings.file_format = SshdLogFormat::kSyslog;
    if (stat(settings.path.c_str(), &st) != 0) return std::nullopt;
    return settings;
  }
  settings.path = UnderRoot(root, sshd_log);
  return settings;
}

SshdActivity::SshdActivity(AuthLogSettings settings, const Clock& clock)
    : tracker_(KeyUseLimits{}, clock),
      follower_(std::move(settings), clock,
                [this](const SshdLogRecord& record) { tracker_.Record(record); }) {}

SshdActivity::~SshdActivity() {
  Stop();
}

void SshdActivity::Start() {
  follower_.Start();
}

void SshdActivity::Stop() {
  follower_.Stop();
}

KeyUseBatch SshdActivity::TakeChangedUses() {
  return tracker_.TakeChangedUses(kMaxKeyUsesPerReport);
}

std::vector<SessionsEndedCount> SshdActivity::EndSessions(const std::vector<std::string>& digests) {
  std::map<std::string, uint32_t> ended;  // fingerprint -> count
  for (const std::string& digest : digests) {
    const std::vector<LiveSession> live = tracker_.SessionsOfKeys({digest});
    if (live.empty()) continue;
    KillSessionsResult result = finder_.KillSessions(tracker_, {digest});
    for (const std::string& error : result.errors) {
      spdlog::error("cannot end a session of revoked key {}: {}", live[0].fingerprint, error);
    }
    if (result.ended > 0) {
      spdlog::warn("ended {} session(s) of revoked key {}", result.ended, live[0].fingerprint);
      ended[live[0].fingerprint] += static_cast<uint32_t>(result.ended);
    }
  }
  std::vector<SessionsEndedCount> out;
  for (const auto& [fingerprint, count] : ended) out.push_back({fingerprint, count});
  return out;
}

}  // namespace keyfleet::agent
