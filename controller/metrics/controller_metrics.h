// The controller's Prometheus metrics (prometheus-cpp). One ControllerMetrics per replica, owned
// by the ControllerServer and passed to what updates it; nothing here is global.
//
// Two kinds of values:
// - events, counted as they happen by whoever sees them (any thread; each a few atomic
//   operations or one short lock, never a database call): admin mutations by RPC and gRPC code,
//   desired states pushed, revoke-to-converged latencies, notification deliveries;
// - readings taken at each scrape from memory (ScrapeValues): connected agents, hosts by state,
//   the database pool, the database outage, readiness. A scrape never queries the database.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace keyfleet::controller::metrics {

// The upper bounds of keyfleet_revoke_to_converged_seconds (DESIGN.md's targets are p99 <= 1 s
// and max <= 2 s on 10,000 hosts; the long tail shows hosts that applied late).
inline constexpr double kRevokeLatencyBuckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300};

struct HostStateCounts {
  uint64_t converged = 0;
  uint64_t pending = 0;
  uint64_t failed = 0;
  uint64_t offline = 0;
};

// What a scrape reads from the replica's memory.
struct ScrapeValues {
  uint64_t connected_agents = 0;  // Watch streams on this replica
  HostStateCounts hosts;
  uint64_t pool_size = 0;
  uint64_t pool_in_use = 0;
  uint64_t database_retries = 0;      // ever
  uint64_t database_unavailable = 0;  // ever
  bool database_reachable = false;
  bool ready = false;
};

class ControllerMetrics {
 public:
  ControllerMetrics();
  ~ControllerMetrics();
  ControllerMetrics(const ControllerMetrics&) = delete;
  ControllerMetrics& operator=(const ControllerMetrics&) = delete;

  // An admin mutation answered with gRPC status `code` ("OK", "INVALID_ARGUMENT", …). `rpc` is a
  // method of kAdminRpcRules, so the labels stay bounded.
  void CountMutation(absl::string_view rpc, absl::string_view code);
  void CountDesiredStatePush();
  void ObserveRevokeToConverged(absl::Duration latency);
  // `result`: "delivered", "retry" or "dead"; `sink`: a configured sink's name.
  void CountDelivery(absl::string_view sink, absl::string_view result);
  // Exposes the configured `sink`'s three counters from 0 before its first delivery (so that
  // rate() and alerts see them from the start).
  void DeclareSink(absl::string_view sink);

  // The Prometheus text exposition (format 0.0.4) of everything, with `now`'s readings.
  std::string Render(const ScrapeValues& now) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& mutations_;
  prometheus::Counter& pushes_;
  prometheus::Histogram& revoke_latency_;
  prometheus::Family<prometheus::Counter>& deliveries_;
};

}  // namespace keyfleet::controller::metrics
