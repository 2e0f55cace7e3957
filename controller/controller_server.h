// One controller replica: PostgreSQL store, fleet view and follower, LISTEN/NOTIFY listener,
// the expiry/heartbeat/report-flush timer, and the gRPC server (admin and agent services,
// health, reflection). main() builds one from its config; tests start them in-process.
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
#include "controller/service/connection_acceptor.h"

namespace keyfleet::controller {

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
  void RecordAuditHighWater();           // after signed commits, beside the audit key
  void WarnOfServerCertificateExpiry();  // daily, during the certificate's last 30 days

  ControllerConfig config_;
  const Clock& clock_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<AuditSigner> audit_signer_;         // null with --insecure-dev
  std::unique_ptr<AuditHighWater> audit_high_water_;  // beside the key; null when unwritable
  std::unique_ptr<Parts> parts_;
  std::unique_ptr<ConnectionAcceptor> acceptor_;  // the listening sockets; null for unix:
  std::unique_ptr<grpc::Server> server_;
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
