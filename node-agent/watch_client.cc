#include "node-agent/watch_client.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/delivery_limits.h"
#include "common/duration_text.h"
#include "common/revocation_limits.h"
#include "common/tls/grpc_credentials.h"
#include "keyfleet/v1/agent.grpc.pb.h"
#include "node-agent/host_credentials.h"
#include "node-agent/host_keys.h"
#include "node-agent/posix/memory_release.h"
#include "node-agent/report_request.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {
namespace {

// How often an agent without usable credentials looks for new ones.
constexpr absl::Duration kCredentialsPoll = absl::Seconds(2);

void SleepUnless(const std::atomic<bool>& stop, absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  while (!stop && absl::Now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

ControllerRotation::ControllerRotation(std::vector<std::string> addresses, uint64_t seed)
    : order_(std::move(addresses)) {
  std::mt19937_64 rng(seed);
  std::shuffle(order_.begin(), order_.end(), rng);
}

bool ControllerRotation::Failed() {
  position_ = (position_ + 1) % order_.size();
  if (++failed_in_round_ < order_.size()) return false;
  failed_in_round_ = 0;
  return true;
}

WatchClient::WatchClient(const AgentConfig& config, Reconciler& reconciler, uint64_t seed)
    : config_(config),
      reconciler_(reconciler),
      rotation_(config.controllers.empty() ? std::vector<std::string>{kDefaultController}
                                           : config.controllers,
                seed),
      jitter_rng_(seed ^ 0x9e3779b97f4a7c15ULL) {
  reconciler_.SetRevocationFetcher([this] { return FetchRevocations(); });
}

absl::StatusOr<RevocationSet> WatchClient::FetchRevocations() {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(channel_mu_);
    channel = channel_;
  }
  if (channel == nullptr) return absl::UnavailableError("not connected to a controller");
  auto stub = v1::AgentService::NewStub(channel);
  // Pages are taken in digest order while revocations may be added: a list whose size is not
  // the last page's count missed one, and is asked for again.
  std::string problem;
  for (int attempt = 0; attempt < kRevocationFetchAttempts; ++attempt) {
    RevocationSet set;
    uint64_t offset = 0;
    for (size_t page = 0;; ++page) {
      if (page == kMaxRevocationPages) {
        return absl::OutOfRangeError(
            absl::StrCat("the controller's list of revoked keys has more "
                         "than ",
                         kMaxRevocationPages, " pages"));
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(kRevocationFetchTimeout));
      v1::GetRevocationsRequest req;
      req.set_offset(offset);
      v1::GetRevocationsResponse resp;
      grpc::Status s = stub->GetRevocations(&ctx, req, &resp);
      if (!s.ok()) {
        return absl::UnavailableError(absl::StrCat("GetRevocations: ", s.error_message()));
      }
      if (page == 0) {
        set.epoch = resp.epoch();
      } else if (resp.epoch() != set.epoch) {
        problem = "the controller's epoch changed between pages";
        break;
      }
      for (const std::string& digest : resp.sha256()) {
        if (digest.size() != kSha256DigestBytes) {
          return absl::DataLossError(absl::StrCat("the controller sent a revoked key digest of ",
                                                  digest.size(), " bytes, not 32"));
        }
        set.sha256.insert(digest);
      }
      for (const std::string& digest : resp.kill_sessions_sha256()) {
        if (digest.size() == kSha256DigestBytes) set.kill_sessions.insert(digest);
      }
      if (resp.next_offset() == 0) {
        if (set.sha256.size() == resp.total()) return set;
        problem = absl::StrCat("the list changed while it was read (", set.sha256.size(),
                               " keys read, ", resp.total(), " counted)");
        break;
      }
      if (resp.next_offset() <= offset) {
        return absl::DataLossError("the controller's next page of revoked keys goes backwards");
      }
      offset = resp.next_offset();
    }
  }
  return absl::UnavailableError(problem);
}

std::optional<WatchedController> WatchClient::watching() const {
  std::lock_guard<std::mutex> lock(watching_mu_);
  return watching_;
}

absl::Duration WatchClient::Jittered(absl::Duration backoff) {
  return backoff * std::uniform_real_distribution<double>(0.5, 1.0)(jitter_rng_);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> WatchClient::Connect(const std::string& address,
                                                                    std::string* hostname) {
  if (config_.insecure_dev) {
    // Plaintext carries who may log in here, unauthenticated: only ever over loopback.
    if (!tls::IsLoopbackAddress(address)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "insecure_dev talks plaintext and trusts whatever answers: it only connects to a "
          "loopback controller (127.0.0.1, [::1], localhost), not ",
          address));
    }
    *hostname = config_.hostname;
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                     ChannelArguments());
  }
  // Read again for every stream: enrollment or renewal may have changed them.
  absl::StatusOr<HostCredentials> creds = LoadHostCredentials(config_.tls_dir);
  if (!creds.ok()) return creds.status();
  if (absl::Now() >= creds->not_after) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the host certificate expired at ", absl::FormatTime(creds->not_after),
        "; enroll again with a new join token (`keyfleet-agent enroll`). The cached state stays "
        "enforced meanwhile"));
  }
  *hostname = creds->hostname;
  ScheduleRenewal(*creds);
  return grpc::CreateCustomChannel(address, MutualTlsCredentials(*creds), ChannelArguments());
}

grpc::ChannelArguments WatchClient::ChannelArguments() {
  grpc::ChannelArguments args;
  // A dead or frozen controller is noticed within kKeepaliveTime + kKeepaliveTimeout (30 s),
  // also while the stream is idle between changes (pings without data are not limited; the
  // controller allows one every 10 s).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              static_cast<int>(absl::ToInt64Milliseconds(kKeepaliveTime)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              static_cast<int>(absl::ToInt64Milliseconds(kKeepaliveTimeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC gives a connection attempt max(this, its first reconnect backoff of 1 s): an address
  // that swallows packets, or a frozen controller, costs kConnectTimeout before the next one is
  // tried, not gRPC's default 20 s. (Each attempt is a new channel: gRPC's own reconnect
  // backoff never runs.)
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(kConnectTimeout)));
  // The controller refuses a change that would make a desired state bigger than this.
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxDesiredStateBytes));
  return args;
}

void WatchClient::ScheduleRenewal(const HostCredentials& creds) {
  renew_at_ = RenewalTime(creds);
}

absl::Time WatchClient::renew_at() const {
  return renew_at_.load();
}

void WatchClient::RenewIfDue() {
  if (config_.insecure_dev || absl::Now() < renew_at()) return;
  absl::StatusOr<HostCredentials> creds = LoadHostCredentials(config_.tls_dir);
  if (!creds.ok() || absl::Now() >= creds->not_after) {
    renew_at_ = absl::InfiniteFuture();  // nothing to renew: the next connection reschedules
    return;
  }
  if (!RenewalDue(*creds, absl::Now())) {
    ScheduleRenewal(*creds);  // renewed meanwhile (by another run of the agent)
    return;
  }
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(channel_mu_);
    channel = channel_;
  }
  if (!channel) return;
  absl::StatusOr<HostCredentials> renewed =
      Renew(channel, *creds, config_.tls_dir, absl::Seconds(30));
  if (!renewed.ok()) {
    // Retry within a minute, sooner as expiry nears (a quarter of what is left).
    renew_at_ = absl::Now() + std::clamp((creds->not_after - absl::Now()) / 4, absl::Seconds(1),
                                         absl::Minutes(1));
    spdlog::warn("certificate renewal failed (retrying; it expires {}): {}",
                 absl::FormatTime(creds->not_after), std::string(renewed.status().message()));
    return;
  }
  ScheduleRenewal(*renewed);
  spdlog::info("renewed the host certificate of {}; valid until {}", renewed->hostname,
               absl::FormatTime(renewed->not_after));
  // Re-open the stream with the new certificate; the controller ends streams whose
  // certificate expires.
  std::lock_guard<std::mutex> lock(ctx_mu_);
  if (active_ != nullptr) active_->TryCancel();
}

namespace {

// Drift and failed accounts, as a report shows them: equal signatures, nothing new to say.
std::string ReportSignature(const ApplyReport& report) {
  std::string out;
  for (const Drift& d : report.drift) {
    absl::StrAppend(&out, d.account, "\x1f", static_cast<int>(d.kind), "\x1f", d.path, "\x1f",
                    d.detail, "\x1f", d.repaired, "\x1e");
  }
  out += "\x1d";
  for (const AccountApplied& a : report.accounts) {
    if (NotApplied(a)) absl::StrAppend(&out, a.account, "\x1f", a.detail, "\x1e");
  }
  // What the files hold (a user's own key added or removed is news for `keyfleet access`).
  out += "\x1d";
  for (const v1::ObservedAccount& a : report.observed) out += a.SerializeAsString();
  return out;
}

}  // namespace

bool WatchClient::ReportChanged(const ApplyReport& report) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  return ReportSignature(report) != last_reported_;
}

void WatchClient::Report(const ApplyReport& report) {
  v1::AgentMessage msg;
  *msg.mutable_report() = ReportRequestFor(report, ReadHostKeys(config_.root));
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_ == nullptr || !stream_->Write(msg)) {
    spdlog::warn("report of generation {} not sent: not connected to the controller",
                 report.generation);
    return;
  }
  last_reported_ = ReportSignature(report);
}

bool WatchClient::WatchOnce(const std::string& address, bool stop_after_first,
                            absl::Duration deadline, absl::Status* status) {
  std::string hostname;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(address, &hostname);
  credentials_unusable_ = !channel.ok();
  if (!channel.ok()) {
    *status = channel.status();
    return false;
  }
  auto stub = v1::AgentService::NewStub(*channel);
  grpc::ClientContext ctx;
  if (deadline != absl::InfiniteDuration()) {
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  }
  v1::AgentMessage hello;
  v1::WatchRequest& req = *hello.mutable_hello();
  req.set_hostname(hostname);
  if (config_.insecure_dev) {
    for (const auto& [k, v] : config_.labels) (*req.mutable_labels())[k] = v;
  }
  if (auto applied = reconciler_.applied()) {
    req.set_applied_generation(applied->generation());
    req.set_applied_epoch(applied->epoch());
  }
  {
    std::lock_guard<std::mutex> lock(ctx_mu_);
    if (stop_) return false;
    active_ = &ctx;
  }
  std::unique_ptr<Stream> stream = stub->Watch(&ctx);
  const bool hello_sent = stream->Write(hello);
  if (hello_sent) {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_ = stream.get();
  }
  v1::WatchResponse resp;
  bool got_any = false;
  bool reported = false;
  while (hello_sent && stream->Read(&resp)) {
    if (!got_any) {
      got_any = true;
      WatchedController watched{address, ctx.peer()};
      spdlog::info("watching controller {} ({})", watched.address, watched.peer);
      {
        std::lock_guard<std::mutex> lock(watching_mu_);
        watching_ = std::move(watched);
      }
      // Renewal goes to the controller that answered, not to one that failed since.
      std::lock_guard<std::mutex> lock(channel_mu_);
      channel_ = *channel;
    }
    if (!resp.has_desired_state()) continue;  // heartbeat
    const v1::DesiredState& state = resp.desired_state();
    if (state.digest().empty()) {
      spdlog::warn("ignoring a desired state without a digest");
      continue;
    }
    if (!state.hostname().empty() && state.hostname() != hostname) {
      spdlog::error("ignoring a desired state for host {} (this is {})", state.hostname(),
                    hostname);
      continue;
    }
    std::optional<ApplyReport> report = reconciler_.Offer(state);
    // The first state on a stream is reported even when it changed nothing: a report lost
    // while disconnected must not leave the controller thinking this host is behind.
    if (!report && !reported) report = reconciler_.Recheck();
    if (report) {
      reported = true;
      spdlog::info("applied generation {}: {} write(s), {} drift item(s)", report->generation,
                   report->writes, report->drift.size());
      Report(*report);
      // Connected, applied, reported: from here the agent idles until the next change.
      if (!stop_after_first) ReleaseStartupMemory();
    }
    if (stop_after_first) {
      // Half-close: the controller finishes the stream once it has read the report.
      std::lock_guard<std::mutex> lock(stream_mu_);
      stream->WritesDone();
      while (stream->Read(&resp)) {
      }
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_ = nullptr;  // no more reports from the recheck thread on this stream
  }
  {
    std::lock_guard<std::mutex> lock(watching_mu_);
    watching_.reset();
  }
  grpc::Status s = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(ctx_mu_);
    active_ = nullptr;
  }
  if (s.ok() || s.error_code() == grpc::StatusCode::CANCELLED) {
    *status = absl::OkStatus();
  } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
             s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    *status = absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                           absl::StrCat("the controller refused this host: ", s.error_message(),
                                        " (the cached state stays enforced)"));
  } else {
    *status = absl::UnavailableError(s.error_message());
  }
  return got_any;
}

void WatchClient::ReportKeyUses() {
  if (activity_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_ == nullptr) return;  // kept in the tracker until a stream is up
  }
  KeyUseBatch batch = activity_->TakeChangedUses();
  if (batch.uses.empty() && batch.dropped == 0) return;
  v1::AgentMessage msg;
  v1::KeyUseReport& report = *msg.mutable_key_use();
  for (const KeyUse& use : batch.uses) {
    v1::KeyUse* out = report.add_uses();
    out->set_account(use.account);
    out->set_fingerprint(use.fingerprint);
    out->set_from_address(use.address);
    *out->mutable_last_used() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(use.time));
  }
  report.set_left_out(static_cast<uint32_t>(std::min<uint64_t>(batch.dropped, UINT32_MAX)));
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_ == nullptr || !stream_->Write(msg)) {
    // Kept for the next report, on this stream or the next one.
    spdlog::info("{} login(s) seen in sshd's log not reported yet: not connected to the controller",
                 batch.uses.size());
    activity_->ReturnUses(std::move(batch));
  }
}

void WatchClient::RecheckLoop() {
  absl::Time next_recheck = absl::Now() + config_.recheck_interval;
  while (!stop_) {
    // Wake for the next re-check or the certificate's renewal, whichever comes first (and at
    // least every minute, in case a connection scheduled a renewal meanwhile; every
    // kKeyUseReportInterval while logins are followed).
    SleepUnless(stop_, std::min({activity_ != nullptr ? kKeyUseReportInterval : absl::Minutes(1),
                                 next_recheck - absl::Now(), renew_at() - absl::Now()}));
    if (stop_) break;
    ReportKeyUses();
    RenewIfDue();
    if (absl::Now() < next_recheck) continue;
    next_recheck = absl::Now() + config_.recheck_interval;
    std::optional<ApplyReport> report = reconciler_.Recheck();
    if (report && (report->writes > 0 || ReportChanged(*report))) {
      spdlog::info("recheck: {} write(s), {} drift item(s)", report->writes, report->drift.size());
      Report(*report);
    }
  }
}

void WatchClient::Run() {
  std::thread recheck([this] { RecheckLoop(); });
  absl::Duration backoff = kFirstRetry;
  // This round's failures ("ADDRESS: reason"), and whether all of them refused this host.
  std::vector<std::string> round_failures;
  bool round_all_refused = true;
  std::string last_reason;
  while (!stop_) {
    const std::string address = rotation_.current();
    absl::Status status;
    const bool got_any = WatchOnce(address, false, absl::InfiniteDuration(), &status);
    if (stop_) break;
    const std::string reason =
        status.ok() ? std::string("stream closed") : std::string(status.message());
    if (credentials_unusable_) {
      // Not enrolled, or the certificate expired: nothing to ask any controller until someone
      // runs `keyfleet-agent enroll`. Look at the files again every few seconds (no network),
      // and say so once, not every time.
      if (reason != last_reason) {
        spdlog::error("{}; the cached state stays enforced; checking again every {}", reason,
                      FormatDurationForHumans(kCredentialsPoll));
      }
      last_reason = reason;
      SleepUnless(stop_, kCredentialsPoll);
      continue;
    }
    last_reason.clear();
    // The one backoff (each attempt is a new channel, so gRPC's own never compounds it), with
    // jitter so a fleet reconnecting after a controller restart spreads out.
    if (got_any) {
      // A stream that worked ended: most often its controller restarted (an upgrade) or the
      // network blinked, so the same controller is asked first, which keeps the fleet spread
      // as it was; a replica that is gone costs one refused connection before the next.
      rotation_.Succeeded();
      round_failures.clear();
      round_all_refused = true;
      backoff = kFirstRetry;
      const absl::Duration wait = Jittered(backoff);
      spdlog::warn("watch on controller {} ended ({}); reconnecting in {}", address, reason,
                   FormatDurationForHumans(wait));
      SleepUnless(stop_, wait);
      backoff = std::min(backoff * 2, kMaxUnreachableRetry);
      continue;
    }
    const bool refused = absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status);
    round_all_refused = round_all_refused && refused;
    round_failures.push_back(absl::StrCat(address, ": ", reason));
    if (!rotation_.Failed()) {
      // Another controller has not been tried since the last working stream: at once.
      spdlog::warn("controller {} failed ({}); trying {}", address, reason, rotation_.current());
      continue;
    }
    // Every controller failed in this round. An unreachable one is tried again at least every
    // kMaxUnreachableRetry, so a restarted one has its agents back within about two seconds;
    // when all of them refused this host, they are asked again more and more slowly.
    const absl::Duration cap = round_all_refused ? kMaxRefusedRetry : kMaxUnreachableRetry;
    backoff = std::min(backoff, cap);
    const absl::Duration wait = Jittered(backoff);
    spdlog::warn("{} ({}); trying {} in {}",
                 rotation_.size() == 1 ? "watch failed" : "no controller could be watched",
                 absl::StrJoin(round_failures, "; "), rotation_.current(),
                 FormatDurationForHumans(wait));
    round_failures.clear();
    round_all_refused = true;
    SleepUnless(stop_, wait);
    backoff = std::min(backoff * 2, cap);
  }
  recheck.join();
}

absl::Status WatchClient::RunOnce(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::string> failures;  // "ADDRESS[ within T][: reason]"
  for (size_t attempt = 0; attempt < rotation_.size() && !stop_; ++attempt) {
    const std::string address = rotation_.current();
    rotation_.Failed();  // whatever happens, the next attempt goes to the next controller
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      failures.push_back(absl::StrCat(address, " (not tried: out of time)"));
      continue;
    }
    absl::Status status;
    const absl::Time start = absl::Now();
    if (WatchOnce(address, true, left, &status)) return absl::OkStatus();
    if (credentials_unusable_) {  // the same for every controller
      return absl::UnavailableError(absl::StrCat("no desired state: ", status.message()));
    }
    // Say "within" only when the wait ran out; a refused connection ends the call at once.
    const bool timed_out = absl::Now() - start >= left;
    failures.push_back(absl::StrCat(
        address, timed_out ? absl::StrCat(" within ", FormatDurationForHumans(left)) : "",
        status.ok() ? "" : ": ", status.message()));
  }
  return absl::UnavailableError(failures.size() == 1
                                    ? absl::StrCat("no desired state from ", failures[0])
                                    : absl::StrCat("no desired state from any controller (",
                                                   absl::StrJoin(failures, "; "), ")"));
}

void WatchClient::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(ctx_mu_);
  if (active_ != nullptr) active_->TryCancel();
}

}  // namespace keyfleet::agent
