// Holds the controller's Watch stream over mTLS (the host certificate in tls_dir; plaintext only
// with insecure_dev): each desired state goes to the Reconciler, then a report on the same
// stream (applied generation and digest, drift, host-key fingerprints). Reconnects with jittered
// exponential backoff (see kFirstRetry) while the reconciler keeps enforcing the cached
// state, also while the host is not enrolled or its certificate was refused; re-applies on a
// timer to catch local edits; renews the certificate after two thirds of its life.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "node-agent/agent_config.h"
#include "node-agent/host_credentials.h"
#include "node-agent/reconciler.h"

namespace keyfleet::agent {

// Reconnecting: the first retry after about kFirstRetry (jittered down to half), doubling to
// kMaxUnreachableRetry while the controller cannot be reached, to kMaxRefusedRetry while it
// refuses this host.
inline constexpr absl::Duration kFirstRetry = absl::Milliseconds(500);
inline constexpr absl::Duration kMaxUnreachableRetry = absl::Seconds(2);
inline constexpr absl::Duration kMaxRefusedRetry = absl::Seconds(60);
// HTTP/2 keepalive on the stream: a ping after this much silence, answered within the timeout.
inline constexpr absl::Duration kKeepaliveTime = absl::Seconds(20);
inline constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(10);

class WatchClient {
 public:
  WatchClient(const AgentConfig& config, Reconciler& reconciler);

  // Runs until Stop().
  void Run();
  // Connects, applies the first desired state, reports, returns. UNAVAILABLE when the
  // controller cannot be reached within `timeout` (the cached state was still enforced).
  absl::Status RunOnce(absl::Duration timeout);
  void Stop();
  // True while the agent cannot connect for want of usable credentials (not enrolled, its
  // certificate expired): it enforces its cache and waits for `keyfleet-agent enroll`.
  bool waiting_for_credentials() const { return credentials_unusable_; }
  // The channel settings every controller connection uses: a receive limit of
  // kMaxDesiredStateBytes (common/delivery_limits.h).
  static grpc::ChannelArguments ChannelArguments();

 private:
  // One stream until it ends; true when at least one message arrived.
  bool WatchOnce(bool stop_after_first, absl::Duration deadline, absl::Status* status);
  // Sends a report on the current stream; dropped (logged) while disconnected: the next apply
  // after reconnecting reports again.
  void Report(const ApplyReport& report);
  // Whether `report` says something the last report sent did not (drift or failures).
  bool ReportChanged(const ApplyReport& report);
  void RecheckLoop();
  // A channel with the current credentials, and the hostname to say in the hello.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(std::string* hostname);
  // Renews the certificate when due; after a renewal the stream is re-opened with it.
  void RenewIfDue();
  void ScheduleRenewal(const HostCredentials& creds);
  absl::Time renew_at() const;

  const AgentConfig& config_;
  Reconciler& reconciler_;
  std::mutex channel_mu_;
  std::shared_ptr<grpc::Channel> channel_;  // the current stream's, for renewal
  std::atomic<absl::Time> renew_at_{absl::InfiniteFuture()};
  // The last stream could not start for want of usable credentials (not enrolled, expired).
  std::atomic<bool> credentials_unusable_{false};
  std::atomic<bool> stop_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* active_ = nullptr;
  // The current stream, for writes (Watch's reader thread and the recheck thread both report).
  using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::WatchResponse>;
  std::mutex stream_mu_;
  // What the last report said (drift and failed accounts, not the generation): a re-check
  // reports when it differs, so drift that went away is cleared on the controller too.
  std::string last_reported_;  // guarded by stream_mu_
  Stream* stream_ = nullptr;
};

// SHA256 fingerprints of ROOT/etc/ssh/ssh_host_*_key.pub.
std::vector<std::string> HostKeyFingerprints(const std::string& root);

}  // namespace keyfleet::agent
