#include "node-agent/metrics_textfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "node-agent/host_credentials.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {
namespace {

// Seconds since the Unix epoch with milliseconds, as Prometheus writes timestamps.
std::string UnixSeconds(absl::Time t) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
  return buf;
}

void Family(std::string* out, const char* name, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n");
}

void Gauge(std::string* out, const char* name, const char* help, absl::string_view value) {
  Family(out, name, help);
  absl::StrAppend(out, name, " ", value, "\n");
}

std::optional<absl::Time> ModifiedAt(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return absl::TimeFromTimespec(st.st_mtim);
}

std::string ErrnoText(const char* what, const std::string& path) {
  return absl::StrCat(what, " ", path, ": ", std::strerror(errno));
}

}  // namespace

ApplySummary SummarizeApply(const ApplyReport& report, absl::Time at) {
  ApplySummary s;
  s.at = at;
  s.generation = report.generation;
  for (const AccountApplied& a : report.accounts) s.failed_accounts += NotApplied(a);
  for (const Drift& d : report.drift) {
    for (size_t i = 0; i < kDriftKinds; ++i) {
      if (kDriftKindLabels[i].kind == d.kind) ++s.drift[i];
    }
  }
  return s;
}

std::string RenderAgentMetrics(const AgentMetrics& m) {
  std::string out;
  if (m.last_apply) {
    const ApplySummary& a = *m.last_apply;
    Gauge(&out, "keyfleet_agent_last_apply_timestamp_seconds",
          "When the agent last applied a desired state (from the controller, its cache or a "
          "re-check), in Unix time.",
          UnixSeconds(a.at));
    Gauge(&out, "keyfleet_agent_last_apply_success",
          "1 when the last apply left every account as desired, 0 when it refused or failed one.",
          a.failed_accounts == 0 ? "1" : "0");
    Gauge(&out, "keyfleet_agent_last_apply_failed_accounts",
          "Accounts the last apply refused or could not write.", absl::StrCat(a.failed_accounts));
    Gauge(&out, "keyfleet_agent_applied_generation",
          "The generation (the controller's change number) of the desired state last applied.",
          absl::StrCat(a.generation));
    Family(&out, "keyfleet_agent_drift_items", "Drift the last apply found, by kind.");
    for (size_t i = 0; i < kDriftKinds; ++i) {
      absl::StrAppend(&out, "keyfleet_agent_drift_items{kind=\"", kDriftKindLabels[i].label, "\"} ",
                      a.drift[i], "\n");
    }
  }
  if (m.cache_age) {
    Gauge(&out, "keyfleet_agent_cache_age_seconds",
          "How long the desired state the agent enforces has gone unconfirmed by a controller: 0 "
          "while it watches one, else the time since it last did (or since the cache was "
          "written, before any controller answered).",
          absl::StrCat(absl::ToInt64Seconds(*m.cache_age)));
  }
  if (m.certificate_expiry) {
    Gauge(&out, "keyfleet_agent_client_certificate_expiry_timestamp_seconds",
          "When the host's client certificate expires, in Unix time (the agent renews it after "
          "two thirds of its life).",
          UnixSeconds(*m.certificate_expiry));
  }
  Gauge(&out, "keyfleet_agent_controller_connected",
        "1 while the agent watches a controller's desired state, else 0.", m.connected ? "1" : "0");
  return out;
}

absl::Status WriteTextfile(const std::string& path, absl::string_view content) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " names no file"));
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no directory ", dir));
    return absl::UnavailableError(ErrnoText("cannot open", dir));
  }
  // One fixed temporary name, not a random one: an interrupted write leaves at most this file,
  // removed by the next write; node_exporter reads only *.prom. Whatever is under the name is
  // unlinked (a link, never its target), and O_EXCL | O_NOFOLLOW makes anything put there in
  // between fail this write rather than be written through.
  const std::string temp = absl::StrCat(".", name, ".tmp");
  if (unlinkat(dir_fd.get(), temp.c_str(), 0) != 0 && errno != ENOENT) {
    return absl::UnavailableError(ErrnoText("cannot remove", dir + temp));
  }
  UniqueFd fd(openat(dir_fd.get(), temp.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644));
  if (!fd.valid()) return absl::UnavailableError(ErrnoText("cannot create", dir + temp));
  // node_exporter runs as another user; the umask must not keep it out.
  if (fchmod(fd.get(), 0644) != 0 || !WriteAll(fd.get(), content)) {
    const std::string error = ErrnoText("cannot write", dir + temp);
    unlinkat(dir_fd.get(), temp.c_str(), 0);
    return absl::UnavailableError(error);
  }
  // No fsync: the file is rewritten at start and every kTextfileInterval, so a power cut that
  // loses the last write costs nothing, while an fsync every 30 s on every host would.
  fd = UniqueFd();
  if (renameat(dir_fd.get(), temp.c_str(), dir_fd.get(), name.c_str()) != 0) {
    const std::string error = ErrnoText("cannot rename over", path);
    unlinkat(dir_fd.get(), temp.c_str(), 0);
    return absl::UnavailableError(error);
  }
  return absl::OkStatus();
}

AgentTextfile::~AgentTextfile() {
  Stop();
}

void AgentTextfile::Applied(const ApplyReport& report) {
  ApplySummary summary = SummarizeApply(report, absl::Now());
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_apply_ = summary;
    applied_ = true;
  }
  cv_.notify_one();
}

void AgentTextfile::Start() {
  thread_ = std::thread([this] { Run(); });
}

void AgentTextfile::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AgentTextfile::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    lock.unlock();
    WriteNow();
    lock.lock();
    if (stopping_) break;
    cv_.wait_for(lock, absl::ToChronoMilliseconds(kTextfileInterval),
                 [this] { return stopping_ || applied_; });
  }
}

void AgentTextfile::WriteNow() {
  const AgentMetrics metrics = Gather(absl::Now());
  const absl::Status written = WriteTextfile(sources_.path, RenderAgentMetrics(metrics));
  std::lock_guard<std::mutex> lock(mu_);
  // A missing directory is the common case (no node_exporter): no word about it.
  std::string error = written.ok() || absl::IsNotFound(written) ? "" : written.ToString();
  if (!error.empty() && error != last_error_) {
    spdlog::warn("metrics textfile not written: {}", error);
  }
  last_error_ = std::move(error);
}

AgentMetrics AgentTextfile::Gather(absl::Time now) {
  AgentMetrics m;
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  m.connected = !stopping && sources_.connected && sources_.connected();
  m.certificate_expiry = CertificateExpiry();
  std::lock_guard<std::mutex> lock(mu_);
  applied_ = false;
  m.last_apply = last_apply_;
  if (m.connected) {
    last_current_ = now;
    m.cache_age = absl::ZeroDuration();
  } else if (last_current_) {
    m.cache_age = now - *last_current_;
  } else {
    std::optional<absl::Time> newest;
    for (int slot = 0; slot < 2; ++slot) {
      std::optional<absl::Time> t = ModifiedAt(absl::StrCat(sources_.cache_prefix, ".", slot));
      if (t && (!newest || *t > *newest)) newest = t;
    }
    if (newest) m.cache_age = std::max(now - *newest, absl::ZeroDuration());
  }
  return m;
}

std::optional<absl::Time> AgentTextfile::CertificateExpiry() {
  if (sources_.tls_dir.empty()) return std::nullopt;
  struct stat st;
  if (stat((sources_.tls_dir + "/host.pem").c_str(), &st) != 0) {
    certificate_file_.reset();
    certificate_expiry_.reset();
    return std::nullopt;
  }
  const CertificateFile seen{st.st_dev, st.st_ino,
                             int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                             st.st_size};
  if (!certificate_file_ || !(*certificate_file_ == seen)) {
    // Parsed only when the file changed (enrollment, renewal), not every interval.
    absl::StatusOr<HostCredentials> creds = LoadHostCredentials(sources_.tls_dir);
    certificate_file_ = seen;
    certificate_expiry_ = creds.ok() ? std::optional<absl::Time>(creds->not_after) : std::nullopt;
  }
  return certificate_expiry_;
}

}  // namespace keyfleet::agent
