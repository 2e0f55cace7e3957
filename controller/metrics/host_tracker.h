// What the hosts connected to this replica last reported, in memory, for the metrics: hosts by
// state (counted at scrape time against the fleet view's current desired state) and the
// revoke-to-converged latency (a revocation starts a clock for each targeted host connected
// here; the host's first report of a generation at or past the revocation's stops it).
//
// Bounded: one small entry per connected host (forgotten once its stream is gone, at the next
// scrape or revocation), at most kMaxPendingRevocations clocks per host.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/fleet_view.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/model.h"
#include "controller/service/agent_stream_observer.h"

namespace keyfleet::controller::metrics {

// Per host; past it the oldest clock is dropped (a host that applies nothing for that many
// revocations is counted by keyfleet_hosts{state="pending"} instead).
inline constexpr size_t kMaxPendingRevocations = 64;

// When `change` revokes a key: the revocation's time (its record's revoked_at); nullopt for
// every other change.
std::optional<absl::Time> RevokedAt(const Change& change);

class HostStateTracker final : public AgentStreamObserver {
 public:
  HostStateTracker(const FleetView& view, ControllerMetrics& metrics, const Clock& clock)
      : view_(view), metrics_(metrics), clock_(clock) {}

  // AgentStreamObserver (gRPC's callback threads): counts the push; records the report and
  // stops the clocks of the revocations it applied.
  void DesiredStateSent(const std::string& hostname) override;
  void Reported(const std::string& hostname, const v1::ReportRequest& report) override;

  // The view applied `changes` (ViewFollower's change observer). For each revocation among them,
  // every host it changed that `connected_hosts()` lists starts a clock at its revoked_at (never
  // later than now: clocks of replicas may disagree). `connected_hosts` is asked only when there
  // is a revocation.
  void ChangesApplied(const std::vector<Change>& changes,
                      const std::function<std::vector<std::string>()>& connected_hosts);

  // Hosts by state: of `connected` (this replica's streams), converged when the last report
  // applied the view's current desired state (its digest, in the view's epoch) and wrote every
  // account, failed when the last report named accounts it could not write, pending otherwise;
  // offline: the view's other hosts. Forgets hosts not in `connected`.
  HostStateCounts Count(const std::vector<std::string>& connected);

 private:
  struct Pending {
    uint64_t change = 0;
    std::string epoch;
    absl::Time at;
  };
  struct Host {
    bool reported = false;
    std::string epoch;  // "" from agents before epochs: the view's
    uint64_t generation = 0;
    std::string digest;
    bool failed = false;
    std::deque<Pending> revocations;
  };
  void ForgetOthers(const std::unordered_set<std::string>& connected);  // under mu_

  const FleetView& view_;
  ControllerMetrics& metrics_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Host> hosts_;
};

}  // namespace keyfleet::controller::metrics
