#include "controller/service/agent_service.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "controller/service/field_limits.h"
#include "controller/service/outgoing_message.h"
#include "controller/service/proto_convert.h"
#include "controller/service/status_mapping.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// One agent's stream. Reads (the hello, then reports) and writes (desired states, heartbeats)
// run independently: one read is in flight at a time, and at most one write; a write that
// became due meanwhile is sent when the current one completes, built then from the newest state
// (a slow agent gets the latest, never a queue). Every write is admitted by the hub's write
// budget first: one refused leaves desired_due_ set and waits for WriteRoomFreed. gRPC calls
// (StartWrite, Finish, TryCancel) and calls into the hub that may wake other streams are made
// outside our lock, since reactions may run inline.
class WatchReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                           public WatchHub::Subscriber {
 public:
  WatchReactor(grpc::CallbackServerContext* ctx, WatchHub& hub, AgentHandlers& agents,
               DesiredStateBodies& bodies, BackgroundQueue& registrations,
               const AgentAuthenticator& auth, const Clock& clock,
               std::optional<HostIdentity> identity, AgentStreamObserver* observer)
      : ctx_(ctx),
        hub_(hub),
        agents_(agents),
        bodies_(bodies),
        registrations_(registrations),
        auth_(auth),
        clock_(clock),
        identity_(std::move(identity)),
        observer_(observer) {
    StartRead(&in_);
  }

  // The reactor owns itself until OnDone (gRPC needs it until then); the hub may hold another
  // reference for a moment, to wake it.
  static WatchReactor* Start(grpc::CallbackServerContext* ctx, WatchHub& hub, AgentHandlers& agents,
                             DesiredStateBodies& bodies, BackgroundQueue& registrations,
                             const AgentAuthenticator& auth, const Clock& clock,
                             std::optional<HostIdentity> identity, AgentStreamObserver* observer) {
    auto reactor = std::make_shared<WatchReactor>(ctx, hub, agents, bodies, registrations, auth,
                                                  clock, std::move(identity), observer);
    reactor->self_ = reactor;
    return reactor.get();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent half-closed, or the stream broke: nothing more will arrive
      FinishOnce(grpc::Status::OK);
      return;
    }
    v1::AgentMessage message;
    grpc::Status status = grpc::SerializationTraits<v1::AgentMessage>::Deserialize(&in_, &message);
    in_.Clear();
    bool registered = false;
    {
      std::lock_guard<std::mutex> lock(registration_mu_);
      registered = registered_;
    }
    if (!status.ok()) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "a Watch message that is not a keyfleet.v1.AgentMessage");
    } else if (absl::Status limits = CheckFieldLimits(message); !limits.ok()) {
      status = ToGrpcStatus(limits);
    } else if (registered) {
      status = OnReport(message);
    } else if (registering_ && message.message_case() == v1::AgentMessage::kKeyUse) {
      // Logins seen while the host registers (--insecure-dev): the agent sends newer ones later.
      spdlog::debug("key uses from {} before its registration finished: not recorded",
                    PrintableName(hostname_));
    } else if (registering_) {
      // The agent reports what it applied, so only after the controller's first state.
      status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "a report before the controller answered the hello; an agent "
                            "reports only after applying a desired state");
    } else {
      status = OnHello(message);
    }
    if (!status.ok()) {
      FinishOnce(status);
      return;
    }
    // Reading goes on at once, also while a hello registers in the background: reads are
    // started only here, on gRPC's threads.
    StartRead(&in_);
  }

  void Notify() override {
    // A removed or re-enrolled host's stream ends at once: its certificate no longer counts.
    if (identity_) {
      if (absl::Status current = auth_.enrollment()->CheckEnrollment(*identity_); !current.ok()) {
        FinishOnce(ToGrpcStatus(current));
        return;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      desired_due_ = true;
    }
    Pump();
  }

  void Heartbeat() override {
    if (identity_ && clock_.Now() >= identity_->not_after) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              "the client certificate of host " + hostname_ + " expired at " +
                                  absl::FormatTime(identity_->not_after) +
                                  "; the agent renews it before then, or re-enrolls"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      heartbeat_due_ = true;
    }
    Pump();
  }

  void WriteRoomFreed() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_for_room_ = false;
      room_reserved_ = true;
    }
    Pump();
  }

  // The agent has not taken this stream's write for too long. Finish cannot help (the status
  // would queue behind the unsent bytes): cancelling resets the HTTP/2 stream, which frees the
  // write at once; the agent sees CANCELLED and reconnects.
  void AbortStalledWrite() override {
    spdlog::debug("Watch stream of host {}: write stalled, cancelling the stream", hostname_);
    ctx_->TryCancel();
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      out_.Clear();  // the serialized state's memory goes now, not with the next write
      finish.swap(deferred_finish_);
    }
    hub_.EndWrite(this);
    if (finish) {  // FinishOnce ran while this write was in flight
      Finish(*finish);
      return;
    }
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    Pump();
  }

  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }

  void OnDone() override {
    bool registered = false;
    {
      // A registration finishing on the background queue has added the stream to the hub by
      // the time this lock is ours, or never will.
      std::lock_guard<std::mutex> lock(registration_mu_);
      registered = registered_;
    }
    if (registered) hub_.Remove(hostname_, this);
    std::shared_ptr<WatchReactor> last = std::move(self_);  // `this` may go with it
  }

 private:
  // Registers the host and sends its desired state. hostname_ is set before the hub can call
  // Notify or Heartbeat, and never changes afterwards.
  grpc::Status OnHello(const v1::AgentMessage& in) {
    if (in.message_case() != v1::AgentMessage::kHello) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message on a Watch stream must be a hello (WatchRequest)");
    }
    const v1::WatchRequest& hello = in.hello();
    Labels labels(hello.labels().begin(), hello.labels().end());
    absl::StatusOr<HostDesiredState> state;
    if (identity_) {
      // The certificate says who this is; the hello may only agree.
      absl::Status refused;
      if (!hello.hostname().empty() && hello.hostname() != identity_->hostname) {
        refused = absl::PermissionDeniedError(absl::StrCat(
            "the certificate of host ", identity_->hostname,
            " cannot watch the desired state of host ", PrintableName(hello.hostname())));
      } else if (!labels.empty()) {
        refused = absl::PermissionDeniedError(
            "an agent cannot set its own labels; they come from its join token and from "
            "`keyfleet host label`");
      }
      if (!refused.ok()) {
        auth_.enrollment()->Deny(
            "host:" + identity_->hostname, "watch",
            hello.hostname().empty() ? identity_->hostname : PrintableName(hello.hostname()),
            refused);
        return ToGrpcStatus(refused);
      }
      hostname_ = identity_->hostname;
      state = agents_.DesiredState(hostname_);
    } else {
      hostname_ = hello.hostname();
      if (agents_.NeedsRegistration(hostname_, labels)) {
        registering_ = true;
        return RegisterInBackground(std::move(labels), hello.applied_epoch(),
                                    hello.applied_generation());
      }
      state = agents_.Connect(hostname_, labels);  // the view has it: no database write
    }
    if (!state.ok()) return Refuse(state.status());
    Subscribe(hello.applied_epoch(), hello.applied_generation());
    return grpc::Status::OK;
  }

  grpc::Status Refuse(const absl::Status& status) {
    spdlog::warn("watch from {} refused: {}", PrintableName(hostname_), status.ToString());
    return ToGrpcStatus(status);
  }

  // The stream joins the hub and gets its desired state.
  void Subscribe(const std::string& applied_epoch, uint64_t applied_generation) {
    agents_.CheckAppliedHistory(hostname_, applied_epoch, applied_generation);
    registered_ = true;
    hub_.Add(hostname_, self_);
    Notify();
  }

  // --insecure-dev only: a host that names itself and is new, or relabels itself, is written to
  // the database on the background queue, never on this callback thread. The stream gets its
  // state when FinishRegistration subscribes it.
  grpc::Status RegisterInBackground(Labels labels, std::string applied_epoch,
                                    uint64_t applied_generation) {
    std::shared_ptr<WatchReactor> self = self_;
    const bool queued =
        registrations_.Submit([self, labels = std::move(labels),
                               applied_epoch = std::move(applied_epoch), applied_generation] {
          self->FinishRegistration(self->agents_.Connect(self->hostname_, labels), applied_epoch,
                                   applied_generation);
        });
    if (queued) return grpc::Status::OK;
    return Refuse(absl::UnavailableError(
        absl::StrCat("too many hosts are registering at once (", kMaxPendingRegistrations,
                     " waiting for the database); the agent retries")));
  }

  // On the background queue. OnDone waits for registration_mu_, so the stream is alive here and
  // is either finished already (nothing to do) or in the hub before OnDone looks.
  void FinishRegistration(const absl::StatusOr<HostDesiredState>& state,
                          const std::string& applied_epoch, uint64_t applied_generation) {
    std::lock_guard<std::mutex> guard(registration_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
    }
    if (!state.ok()) {
      FinishOnce(Refuse(state.status()));
      return;
    }
    Subscribe(applied_epoch, applied_generation);
  }

  // Records a report or key uses. A refused report is logged and dropped; the stream, which is
  // what keeps the host's keys current, stays up.
  grpc::Status OnReport(const v1::AgentMessage& in) {
    if (in.message_case() == v1::AgentMessage::kKeyUse) return OnKeyUse(in.key_use());
    if (in.message_case() != v1::AgentMessage::kReport) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "after its hello, a Watch stream carries only reports and key uses");
    }
    const v1::ReportRequest& report = in.report();
    if (!report.hostname().empty() && report.hostname() != hostname_) {
      absl::Status refused = absl::PermissionDeniedError(absl::StrCat(
          "a report for host ", PrintableName(report.hostname()), " on the Watch stream of host ",
          hostname_, "; an agent reports only for its own host"));
      if (identity_) {
        auth_.enrollment()->Deny("host:" + hostname_, "report", PrintableName(report.hostname()),
                                 refused);
      }
      return ToGrpcStatus(refused);
    }
    if (!report.applied_digest().empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      acknowledged_ = acknowledged_ || report.applied_digest() == sent_digest_ ||
                      report.applied_digest() == previous_sent_digest_;
    }
    absl::Status s = agents_.Report(FromProto(hostname_, report));
    if (!s.ok()) spdlog::warn("report from {} dropped: {}", hostname_, s.ToString());
    if (s.ok() && observer_ != nullptr) observer_->Reported(hostname_, report);
    return grpc::Status::OK;
  }

  // Buffers the uses for this stream's host (never one the message names: it names none); the
  // database is written from the writer thread. Malformed uses are logged and left out.
  grpc::Status OnKeyUse(const v1::KeyUseReport& report) {
    absl::StatusOr<KeyUseOutcome> outcome = agents_.RecordKeyUses(hostname_, FromProto(report));
    if (!outcome.ok()) {
      spdlog::warn("key uses from {} dropped: {}", hostname_, outcome.status().ToString());
      return grpc::Status::OK;
    }
    if (outcome->refused > 0) {
      spdlog::warn("key-use report from host {}: {} of {} uses refused and not recorded ({})",
                   hostname_, outcome->refused, report.uses_size(), outcome->first_refusal);
    }
    if (outcome->dropped > 0) {
      spdlog::warn(
          "key-use report from host {}: {} uses not recorded, {} are waiting for the "
          "database",
          hostname_, outcome->dropped, kMaxPendingKeyUses);
    }
    if (outcome->unknown_keys > 0 || report.left_out() > 0) {
      spdlog::debug(
          "key-use report from host {}: {} recorded, {} of keys keyfleet does not "
          "hold, {} left out by the agent",
          hostname_, outcome->recorded, outcome->unknown_keys, report.left_out());
    }
    return grpc::Status::OK;
  }

  void Pump() {
    bool write = false;
    bool return_room = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writing_ || finishing_ || waiting_for_room_) return;
      write = Prepare();
      writing_ = write;
      // Room reserved for a desired state that, built again now, was not needed after all.
      return_room = room_reserved_;
      room_reserved_ = false;
    }
    if (return_room) hub_.NothingToWrite(this);
    if (write) StartWrite(&out_);
  }

  // Fills out_ with what is due and admitted by the hub; false when nothing is. A desired state
  // the budget refuses is dropped again (desired_due_ stays set): when room frees, the then
  // newest state is built.
  bool Prepare() {
    if (desired_due_) {
      // When the last state built would not fit, wait without building this one: in a push to a
      // whole fleet that overruns the budget, those waiting cost nothing until their turn.
      if (state_bytes_ > 0 && hub_.WaitIfFull(this, state_bytes_, acknowledged_)) {
        waiting_for_room_ = true;
        return false;
      }
      absl::StatusOr<HostDesiredState> state = agents_.DesiredState(hostname_);
      // A new epoch (the view loaded again after a failover) goes out even with the same
      // content: the agent's reports count only once it applied the view's epoch.
      if (state.ok() && (state->digest != sent_digest_ || state->epoch != sent_epoch_)) {
        // Shared with every other host that has this state (desired_state_bodies.h).
        grpc::ByteBuffer message = bodies_.Message(*state, &state_bytes_);
        if (!hub_.BeginWrite(this, state_bytes_, acknowledged_)) {
          waiting_for_room_ = true;
          return false;
        }
        room_reserved_ = false;  // BeginWrite took it
        desired_due_ = false;
        previous_sent_digest_ = std::move(sent_digest_);
        sent_digest_ = state->digest;
        sent_generation_ = state->generation;
        sent_epoch_ = state->epoch;
        out_ = std::move(message);
        heartbeat_due_ = false;
        if (observer_ != nullptr) observer_->DesiredStateSent(hostname_);
        return true;
      }
      desired_due_ = false;
    }
    if (heartbeat_due_) {
      heartbeat_due_ = false;
      v1::WatchResponse message;
      message.mutable_heartbeat()->set_current_generation(sent_generation_);
      hub_.BeginWrite(this, 0, acknowledged_);  // never refused; tracked for stalls
      out_ = SerializeOutgoing(message);
      return true;
    }
    return false;
  }

  // Finish must not overlap a write: Pump may have claimed writing_ and be about to call
  // StartWrite from another thread (a notification, the heartbeat timer). Then the finish waits
  // for OnWriteDone.
  void FinishOnce(const grpc::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      if (writing_) {
        deferred_finish_ = status;
        return;
      }
    }
    Finish(status);
  }

  grpc::CallbackServerContext* const ctx_;  // valid until OnDone
  WatchHub& hub_;
  AgentHandlers& agents_;
  DesiredStateBodies& bodies_;
  BackgroundQueue& registrations_;
  const AgentAuthenticator& auth_;
  const Clock& clock_;
  const std::optional<HostIdentity> identity_;  // nullopt only with --insecure-dev
  AgentStreamObserver* const observer_;         // may be null
  // Read side (one reaction at a time, or the background registration while no read is started).
  grpc::ByteBuffer in_;
  bool registering_ = false;    // the hello is being registered in the background
  std::mutex registration_mu_;  // held by FinishRegistration; reads and OnDone wait for it
  // Set before the stream joins the hub; read under registration_mu_.
  bool registered_ = false;
  std::string hostname_;
  // Write side, under mu_.
  std::mutex mu_;
  bool writing_ = false;
  // The agent reported applying a state sent on this stream, so it reads: its writes go first
  // when the budget is contended (a client that never reads cannot know the digest).
  bool acknowledged_ = false;
  bool waiting_for_room_ = false;  // refused by the write budget; WriteRoomFreed ends it
  bool room_reserved_ = false;     // WriteRoomFreed came and Prepare has not used it yet
  bool finishing_ = false;
  bool desired_due_ = false;
  bool heartbeat_due_ = false;
  std::optional<grpc::Status> deferred_finish_;
  std::string sent_digest_;
  std::string previous_sent_digest_;  // an agent may report it after the next state went out
  uint64_t sent_generation_ = 0;
  std::string sent_epoch_;
  size_t state_bytes_ = 0;  // the last desired state built, serialized
  grpc::ByteBuffer out_;
  std::shared_ptr<WatchReactor> self_;  // released by OnDone
};

// A stream refused before its first message: finished at once, nothing read or sent.
class RefusedWatch final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AgentServiceImpl::Watch(
    grpc::CallbackServerContext* ctx) {
  absl::StatusOr<std::optional<HostIdentity>> identity =
      auth_.AuthenticateHost(*ctx, "/keyfleet.v1.AgentService/Watch");
  if (!identity.ok()) return new RefusedWatch(ToGrpcStatus(identity.status()));
  return WatchReactor::Start(ctx, hub_, agents_, bodies_, registrations_, auth_, clock_,
                             *std::move(identity), observer_);
}

grpc::ServerUnaryReactor* AgentServiceImpl::Renew(grpc::CallbackServerContext* ctx,
                                                  const v1::RenewRequest* req,
                                                  v1::RenewResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status limits = CheckFieldLimits(*req); !limits.ok()) {
    reactor->Finish(ToGrpcStatus(limits));
    return reactor;
  }
  absl::StatusOr<std::optional<HostIdentity>> identity =
      auth_.AuthenticateHost(*ctx, "/keyfleet.v1.AgentService/Renew");
  if (!identity.ok()) {
    reactor->Finish(ToGrpcStatus(identity.status()));
    return reactor;
  }
  if (!identity->has_value()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "this controller runs with --insecure-dev: there are no "
                                 "certificates to renew"));
    return reactor;
  }
  absl::StatusOr<RenewOutcome> renewed = auth_.enrollment()->Renew(**identity, req->csr_pem());
  if (!renewed.ok()) {
    reactor->Finish(ToGrpcStatus(renewed.status()));
    return reactor;
  }
  resp->set_certificate_pem(renewed->certificate_pem);
  resp->set_ca_bundle_pem(renewed->ca_bundle_pem);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceImpl::GetRevocations(grpc::CallbackServerContext* ctx,
                                                           const v1::GetRevocationsRequest* req,
                                                           v1::GetRevocationsResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status limits = CheckFieldLimits(*req); !limits.ok()) {
    reactor->Finish(ToGrpcStatus(limits));
    return reactor;
  }
  absl::StatusOr<std::optional<HostIdentity>> identity =
      auth_.AuthenticateHost(*ctx, "/keyfleet.v1.AgentService/GetRevocations");
  if (!identity.ok()) {
    reactor->Finish(ToGrpcStatus(identity.status()));
    return reactor;
  }
  uint64_t total = 0, next_offset = 0;
  std::string epoch;
  std::vector<std::string> kill_sessions;
  for (std::string& digest :
       agents_.Revocations(req->offset(), &total, &epoch, &next_offset, &kill_sessions)) {
    resp->add_sha256(std::move(digest));
  }
  for (std::string& digest : kill_sessions) resp->add_kill_sessions_sha256(std::move(digest));
  resp->set_epoch(std::move(epoch));
  resp->set_total(total);
  resp->set_next_offset(next_offset);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::Status EnrollmentServiceImpl::Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                                           v1::EnrollResponse* resp) {
  if (absl::Status limits = CheckFieldLimits(*req); !limits.ok()) return ToGrpcStatus(limits);
  if (auth_.insecure_dev()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this controller runs with --insecure-dev (no TLS, no CA): agents are "
                        "not enrolled; they name themselves in their hello");
  }
  absl::StatusOr<EnrollOutcome> enrolled =
      auth_.enrollment()->Enroll(ctx->peer(), req->token(), req->hostname(), req->csr_pem());
  if (!enrolled.ok()) return ToGrpcStatus(enrolled.status());
  resp->set_hostname(enrolled->host.hostname);
  resp->set_certificate_pem(enrolled->certificate_pem);
  resp->set_ca_bundle_pem(enrolled->ca_bundle_pem);
  for (const auto& [k, v] : enrolled->host.labels) (*resp->mutable_labels())[k] = v;
  return grpc::Status::OK;
}

}  // namespace keyfleet::controller
