// The agent's metrics as a node_exporter textfile (metrics_textfile, default
// /var/lib/prometheus/node-exporter/keyfleet-agent.prom): the last apply's time and result, its
// drift by kind, the cache's age, the client certificate's expiry and whether a controller is
// being watched. node_exporter's textfile collector serves it with the host's other metrics, so
// the agent opens no port.
//
// The few lines are formatted by hand, not with prometheus-cpp: the agent's idle RSS target is
// 10 MiB (measured about 5), and a metrics library with its registry, its locks and its
// serializer would cost more resident memory than the file has bytes, for values the agent
// already holds.
//
// The file is written whole (a new file in the same directory, fchmod 0644, renamed over the
// old one: node_exporter never reads half of it) after every apply and every kTextfileInterval,
// only while its directory exists (node_exporter installed; a missing directory is skipped
// silently).
#pragma once

#include <sys/types.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "keyfleet/v1/inventory.pb.h"
#include "node-agent/apply.h"

namespace keyfleet::agent {

inline constexpr char kDefaultMetricsTextfile[] =
    "/var/lib/prometheus/node-exporter/keyfleet-agent.prom";
// How often the file is rewritten without an apply (the cache's age and the connection move).
inline constexpr absl::Duration kTextfileInterval = absl::Seconds(30);

// The drift kinds (every valid v1::DriftKind but UNSPECIFIED), in enum order, with the label
// each gets: the enum's name without DRIFT_KIND_, in lower case. Kept here rather than asked of
// protobuf's descriptors, which the agent never loads otherwise (a unit test checks it against
// them).
struct DriftKindLabel {
  v1::DriftKind kind;
  const char* label;
};
inline constexpr DriftKindLabel kDriftKindLabels[] = {
    {v1::DRIFT_KIND_UNMANAGED_KEY, "unmanaged_key"},
    {v1::DRIFT_KIND_MANAGED_KEY_MISSING, "managed_key_missing"},
    {v1::DRIFT_KIND_MANAGED_KEY_EDITED, "managed_key_edited"},
    {v1::DRIFT_KIND_WRONG_MODE, "wrong_mode"},
    {v1::DRIFT_KIND_WRONG_OWNER, "wrong_owner"},
    {v1::DRIFT_KIND_SSHD_WILL_REFUSE, "sshd_will_refuse"},
    {v1::DRIFT_KIND_UNSAFE_PATH, "unsafe_path"},
    {v1::DRIFT_KIND_NO_SUCH_ACCOUNT, "no_such_account"},
    {v1::DRIFT_KIND_AUTHORIZED_KEYS2, "authorized_keys2"},
    {v1::DRIFT_KIND_DAMAGED_MARKER, "damaged_marker"},
    {v1::DRIFT_KIND_REFUSED_ACCOUNT, "refused_account"},
    {v1::DRIFT_KIND_SSHD_MAY_REFUSE, "sshd_may_refuse"},
    {v1::DRIFT_KIND_LEFT_OUT, "left_out"},
};
inline constexpr size_t kDriftKinds = sizeof(kDriftKindLabels) / sizeof(kDriftKindLabels[0]);

// What the last apply said, reduced to what the file shows.
struct ApplySummary {
  absl::Time at;
  uint64_t generation = 0;
  size_t failed_accounts = 0;                 // refused or failed (NotApplied)
  std::array<uint64_t, kDriftKinds> drift{};  // by kDriftKindLabels' order
};
ApplySummary SummarizeApply(const ApplyReport& report, absl::Time at);

struct AgentMetrics {
  std::optional<ApplySummary> last_apply;  // none yet in this run
  // How long the enforced state has gone unconfirmed by a controller; nullopt without a cache.
  std::optional<absl::Duration> cache_age;
  std::optional<absl::Time> certificate_expiry;  // nullopt when not enrolled or insecure_dev
  bool connected = false;
};

// The textfile's content (Prometheus text format 0.0.4).
std::string RenderAgentMetrics(const AgentMetrics& metrics);

// Writes `content` as `path` atomically (see the top of this file). NOT_FOUND when the
// directory does not exist; other failures name the step and the errno text.
absl::Status WriteTextfile(const std::string& path, absl::string_view content);

// Keeps the textfile current on a thread of its own: Applied (from the Reconciler's apply
// observer) only records and wakes it, so the apply's own path never waits on this file.
class AgentTextfile {
 public:
  struct Sources {
    std::string path;          // the textfile, under the agent's root
    std::string cache_prefix;  // the cache's slot files PREFIX.0, PREFIX.1
    std::string tls_dir;       // host.pem; "" for insecure_dev (no certificate)
    std::function<bool()> connected;
  };
  explicit AgentTextfile(Sources sources) : sources_(std::move(sources)) {}
  ~AgentTextfile();  // Stop()
  AgentTextfile(const AgentTextfile&) = delete;
  AgentTextfile& operator=(const AgentTextfile&) = delete;

  void Applied(const ApplyReport& report);
  void Start();
  // Writes once more (the agent is no longer connected) and joins the thread.
  void Stop();
  // One write now, on the caller's thread (`run --once`, and tests); not while the thread runs.
  void WriteNow();

 private:
  void Run();
  AgentMetrics Gather(absl::Time now);
  std::optional<absl::Time> CertificateExpiry();

  const Sources sources_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool applied_ = false;  // an apply since the last write
  std::optional<ApplySummary> last_apply_;
  std::optional<absl::Time> last_current_;  // last seen watching a controller
  // host.pem's identity when its expiry was last read, so it is parsed only when it changes.
  struct CertificateFile {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t mtime_ns = 0;
    off_t size = 0;
    bool operator==(const CertificateFile& o) const {
      return dev == o.dev && ino == o.ino && mtime_ns == o.mtime_ns && size == o.size;
    }
  };
  std::optional<CertificateFile> certificate_file_;
  std::optional<absl::Time> certificate_expiry_;
  std::string last_error_;  // said once until it changes
  std::thread thread_;
};

}  // namespace keyfleet::agent
