// Holds a controller's Watch stream over mTLS (the host certificate in tls_dir; plaintext only
// with insecure_dev): each desired state goes to the Reconciler, then a report on the same
// stream (applied generation and digest, drift, host-key fingerprints). With several controller
// addresses (replicas sharing one database) it watches one at a time and fails over to the next
// (ControllerRotation); reconnects with one jittered exponential backoff (see kFirstRetry) while
// the reconciler keeps enforcing the cached state, also while the host is not enrolled or its
// certificate was refused; re-applies on a timer to catch local edits; renews the certificate
// after two thirds of its life, through the controller it is watching.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "node-agent/agent_config.h"
#include "node-agent/host_credentials.h"
#include "node-agent/reconciler.h"
#include "node-agent/sshd_activity.h"

namespace keyfleet::agent {

// Reconnecting, with one backoff (every wait jittered down to as little as half of it): after a
// stream that worked ends, the same controller again after kFirstRetry; a failed attempt moves on
// to the next address at once while some address has not failed since the last working stream;
// once every one has, the agent waits the backoff, which doubles with each wait (from kFirstRetry
// at start-up and after a working stream) up to kMaxUnreachableRetry, or kMaxRefusedRetry when
// every controller refused this host.
inline constexpr absl::Duration kFirstRetry = absl::Milliseconds(500);
inline constexpr absl::Duration kMaxUnreachableRetry = absl::Seconds(2);
inline constexpr absl::Duration kMaxRefusedRetry = absl::Seconds(60);
// How long one connection attempt (TCP and TLS handshakes) may take before the address counts
// as unreachable; gRPC's own default is 20 s. Also the limit per resolved address of a DNS name
// (gRPC's pick_first tries them in turn).
inline constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
// HTTP/2 keepalive on the stream: a ping after this much silence, answered within the timeout.
inline constexpr absl::Duration kKeepaliveTime = absl::Seconds(20);
inline constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(10);

// How often logins seen in sshd's log are reported (at most; only when there are some).
inline constexpr absl::Duration kKeyUseReportInterval = absl::Seconds(5);

// Fetching the fleet's whole list of revoked keys (FetchRevocations): each page within the
// timeout; the list read again when it changed meanwhile, at most this many times; at most this
// many pages (kRevocationsPerPage each: 5 million keys).
inline constexpr absl::Duration kRevocationFetchTimeout = absl::Seconds(30);
inline constexpr int kRevocationFetchAttempts = 3;
inline constexpr size_t kMaxRevocationPages = 100;

// The order in which an agent tries the configured controllers: shuffled once (so a fleet
// spreads over the replicas, and the agents of a replica that dies spread over the others),
// then round robin. A round is the attempts since the last stream that worked; it is complete
// when every address has failed in it. Not thread-safe (the watch loop's own).
class ControllerRotation {
 public:
  // `addresses` must not be empty.
  ControllerRotation(std::vector<std::string> addresses, uint64_t seed);
  const std::string& current() const { return order_[position_]; }
  size_t size() const { return order_.size(); }
  // The current address worked: it comes first again, and a new round begins.
  void Succeeded() { failed_in_round_ = 0; }
  // The current address failed: moves to the next. True when that completed the round (every
  // address failed since the last success); the next round begins with the next address.
  bool Failed();

 private:
  std::vector<std::string> order_;
  size_t position_ = 0;
  size_t failed_in_round_ = 0;
};

// The controller a stream is watching: the configured address, and the peer gRPC connected to
// (for a DNS name, which of its addresses).
struct WatchedController {
  std::string address;
  std::string peer;
};

class WatchClient {
 public:
  // `seed` shuffles the controllers and jitters the backoff (fixed in tests).
  WatchClient(const AgentConfig& config, Reconciler& reconciler,
              uint64_t seed = std::random_device{}());

  // Where logins are learnt from, to report them (null: none). Set before Run.
  void SetSshdActivity(SshdActivity* activity) { activity_ = activity; }

  // Runs until Stop().
  void Run();
  // Connects, applies the first desired state, reports, returns; tries each controller once
  // (in rotation order) within `timeout`. UNAVAILABLE naming each address's failure when none
  // gave a state (the cached state was still enforced).
  absl::Status RunOnce(absl::Duration timeout);
  void Stop();
  // True while the agent cannot connect for want of usable credentials (not enrolled, its
  // certificate expired): it enforces its cache and waits for `keyfleet-agent enroll`.
  bool waiting_for_credentials() const { return credentials_unusable_; }
  // The controller whose stream is up (it has sent at least one message), if any.
  std::optional<WatchedController> watching() const;
  // The channel settings every controller connection uses: keepalive, kConnectTimeout, a
  // receive limit of kMaxDesiredStateBytes (common/delivery_limits.h).
  static grpc::ChannelArguments ChannelArguments();

 private:
  // One stream to `address` until it ends; true when at least one message arrived.
  bool WatchOnce(const std::string& address, bool stop_after_first, absl::Duration deadline,
                 absl::Status* status);
  // Sends a report on the current stream; dropped (logged) while disconnected: the next apply
  // after reconnecting reports again.
  void Report(const ApplyReport& report);
  // Whether `report` says something the last report sent did not (drift or failures).
  bool ReportChanged(const ApplyReport& report);
  void RecheckLoop();
  // Sends the logins seen since the last call, if any, on the current stream.
  void ReportKeyUses();
  // A channel to `address` with the current credentials, and the hostname to say in the hello.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const std::string& address,
                                                         std::string* hostname);
  // A wait of between half and all of `backoff`.
  absl::Duration Jittered(absl::Duration backoff);
  // The controller's whole list of revoked keys (every page of GetRevocations), through the
  // channel of the stream that works; UNAVAILABLE while there is none.
  absl::StatusOr<RevocationSet> FetchRevocations();
  // Renews the certificate when due; after a renewal the stream is re-opened with it.
  void RenewIfDue();
  void ScheduleRenewal(const HostCredentials& creds);
  absl::Time renew_at() const;

  const AgentConfig& config_;
  Reconciler& reconciler_;
  ControllerRotation rotation_;  // used by Run and RunOnce only
  std::mt19937_64 jitter_rng_;   // likewise
  std::mutex channel_mu_;
  std::shared_ptr<grpc::Channel> channel_;  // the last stream's that worked, for renewal
  mutable std::mutex watching_mu_;
  std::optional<WatchedController> watching_;  // guarded by watching_mu_
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
  SshdActivity* activity_ = nullptr;
};

}  // namespace keyfleet::agent
