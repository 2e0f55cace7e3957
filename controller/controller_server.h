// One controller replica: PostgreSQL store, fleet view and follower, LISTEN/NOTIFY listener,
// the expiry/heartbeat/report-flush timer, the gRPC server (admin and agent services, health,
// reflection), the HTTP port for metrics and probes (metrics_listen), and the dashboard
// (dashboard_listen). main() builds one from
// its config; tests start them in-process.
//
// Ready (/readyz 200, gRPC health SERVING) while the database is reachable (the change
// listener's connection is up) and the fleet view is loaded and following the change feed; the
// timer updates gRPC health on each transition and logs it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "controller/audit_high_water.h"
#include "controller/audit_signer.h"
#include "controller/ca/certificate_authority.h"
#include "controller/config.h"
#include "controller/dashboard/dashboard_server.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/metrics/http_server.h"
#include "controller/service/connection_acceptor.h"
#include "controller/store/pg_pool.h"

namespace keyfleet::controller {

// How often a replica reads every key's last use from the database (the logins other replicas'
// agents reported; its own agents' count at once).
inline constexpr absl::Duration kLastUsesRefresh = absl::Seconds(30);

// The CA in `dir`, created first when there is none (NOT_FOUND from Load).
absl::StatusOr<std::unique_ptr<CertificateAuthority>> LoadOrCreateCa(const std::string& dir,
                                                                     absl::Time now);

class ControllerServer {
 public:
  ControllerServer(ControllerConfig config, const Clock& clock);
  ~ControllerServer();  // Shutdown()

  // Migrates (when configured), checks the schema, loads the view and starts serving on
  // config.listen (port 0 picks a free port; see port()).
  absl::Status Start();
  void Shutdown();
  void Wait();

  int port() const { return port_; }
  // The metrics port (metrics_listen; port 0 picks one); 0 when it is off or not served.
  int metrics_port() const { return http_ ? http_->port() : 0; }
  // The dashboard's HTTPS port (dashboard_listen); 0 when it is off.
  int dashboard_port() const { return dashboard_ ? dashboard_->port() : 0; }
  // The same predicate as /readyz and gRPC health.
  metrics::Readiness Readiness() const;
  // The CA this replica issues from; null with --insecure-dev.
  const CertificateAuthority* ca() const;
  // For in-process tests; `interceptors` can add a token to every call.
  std::shared_ptr<grpc::Channel> InProcessChannel(
      std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
          interceptors = {});

 private:
  struct Parts;
  void RunTimer();                       // expiry and heartbeats
  void RunWriter();                      // report batches and seen-marks (database)
  // Merges the store's last use of every key into the fleet view (FleetView::NoteLastUses).
  void RefreshLastUses();
  void RecordAuditHighWater();           // after signed commits, beside the audit key
  void WarnOfServerCertificateExpiry();  // daily, during the certificate's last 30 days
  absl::Status StartMetricsPort();
  absl::Status StartDashboard(const IssuedKeyPair& server_pair);  // after server_
  std::string RenderMetrics() const;
  void UpdateHealth();  // gRPC health and the log follow Readiness() on transitions

  ControllerConfig config_;
  const Clock& clock_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<AuditSigner> audit_signer_;         // null with --insecure-dev
  std::unique_ptr<AuditHighWater> audit_high_water_;  // beside the key; null when unwritable
  // Before parts_: what the parts update must outlive them.
  metrics::ControllerMetrics metrics_;
  std::shared_ptr<PgPoolCounters> pool_counters_ = std::make_shared<PgPoolCounters>();
  std::unique_ptr<Parts> parts_;
  // For the HTTP threads, which may ask before parts_ is complete: set once Start has built it
  // all, cleared by Shutdown.
  std::atomic<Parts*> serving_parts_{nullptr};
  std::atomic<bool> view_loaded_{false};
  std::atomic<bool> view_current_{true};  // the last catch-up from the feed succeeded
  bool health_serving_ = false;           // what gRPC health says; the timer's
  std::unique_ptr<metrics::MetricsHttpServer> http_;
  std::unique_ptr<ConnectionAcceptor> acceptor_;  // the listening sockets; null for unix:
  std::unique_ptr<grpc::Server> server_;
  // After server_ (its channel is to server_'s AdminService); stopped before it.
  std::unique_ptr<dashboard::DashboardServer> dashboard_;
  int port_ = 0;
  absl::Time server_certificate_expires_ = absl::InfiniteFuture();
  absl::Time next_expiry_warning_ = absl::InfinitePast();
  std::atomic<bool> stopping_{false};
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::thread timer_;
  std::thread writer_;
};

}  // namespace keyfleet::controller
