#include "controller/service/agent_service.h"

#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "controller/service/proto_convert.h"
#include "controller/service/status_mapping.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// One agent's stream. Reads (the hello, then reports) and writes (desired states, heartbeats)
// run independently: one read is in flight at a time, and at most one write; a write that
// became due meanwhile is sent when the current one completes. gRPC calls (StartWrite, Finish)
// are made outside our lock, since reactions may run inline.
class WatchReactor final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse>,
                           public WatchHub::Subscriber {
 public:
  WatchReactor(WatchHub& hub, AgentHandlers& agents, const AgentAuthenticator& auth,
               const Clock& clock, std::optional<HostIdentity> identity)
      : hub_(hub), agents_(agents), auth_(auth), clock_(clock), identity_(std::move(identity)) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent half-closed, or the stream broke: nothing more will arrive
      FinishOnce(grpc::Status::OK);
      return;
    }
    grpc::Status status = registered_ ? OnReport() : OnHello();
    in_ = v1::AgentMessage();
    if (!status.ok()) {
      FinishOnce(status);
      return;
    }
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

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      out_ = v1::WatchResponse();  // Clear() would keep the strings' memory for every stream
      finish.swap(deferred_finish_);
    }
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
    if (registered_) hub_.Remove(hostname_, this);
    delete this;
  }

 private:
  // Registers the host and sends its desired state. hostname_ is set before the hub can call
  // Notify or Heartbeat, and never changes afterwards.
  grpc::Status OnHello() {
    if (in_.message_case() != v1::AgentMessage::kHello) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message on a Watch stream must be a hello (WatchRequest)");
    }
    const v1::WatchRequest& hello = in_.hello();
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
      state = agents_.Connect(hello.hostname(), labels);
      hostname_ = hello.hostname();
    }
    if (!state.ok()) {
      spdlog::warn("watch from {} refused: {}", PrintableName(hostname_),
                   state.status().ToString());
      return ToGrpcStatus(state.status());
    }
    agents_.CheckAppliedHistory(hostname_, hello.applied_epoch(), hello.applied_generation());
    registered_ = true;
    hub_.Add(hostname_, this);
    Notify();
    return grpc::Status::OK;
  }

  // Records a report. A refused report is logged and dropped; the stream, which is what keeps
  // the host's keys current, stays up.
  grpc::Status OnReport() {
    if (in_.message_case() != v1::AgentMessage::kReport) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "after its hello, a Watch stream carries only reports");
    }
    const v1::ReportRequest& report = in_.report();
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
    absl::Status s = agents_.Report(FromProto(hostname_, report));
    if (!s.ok()) spdlog::warn("report from {} dropped: {}", hostname_, s.ToString());
    return grpc::Status::OK;
  }

  void Pump() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writing_ || finishing_) return;
      if (!Prepare()) return;
      writing_ = true;
    }
    StartWrite(&out_);
  }

  // Fills out_ with what is due; false when nothing is.
  bool Prepare() {
    if (desired_due_) {
      desired_due_ = false;
      absl::StatusOr<HostDesiredState> state = agents_.DesiredState(hostname_);
      if (state.ok() && state->digest != sent_digest_) {
        sent_digest_ = state->digest;
        sent_generation_ = state->generation;
        out_ = v1::WatchResponse();
        ToProto(*state, out_.mutable_desired_state());
        heartbeat_due_ = false;
        return true;
      }
    }
    if (heartbeat_due_) {
      heartbeat_due_ = false;
      out_ = v1::WatchResponse();
      out_.mutable_heartbeat()->set_current_generation(sent_generation_);
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

  WatchHub& hub_;
  AgentHandlers& agents_;
  const AgentAuthenticator& auth_;
  const Clock& clock_;
  const std::optional<HostIdentity> identity_;  // nullopt only with --insecure-dev
  // Read side (one reaction at a time).
  v1::AgentMessage in_;
  bool registered_ = false;
  std::string hostname_;
  // Write side, under mu_.
  std::mutex mu_;
  bool writing_ = false;
  bool finishing_ = false;
  bool desired_due_ = false;
  bool heartbeat_due_ = false;
  std::optional<grpc::Status> deferred_finish_;
  std::string sent_digest_;
  uint64_t sent_generation_ = 0;
  v1::WatchResponse out_;
};

// A stream refused before its first message: finished at once, nothing read or sent.
class RefusedWatch final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse>* AgentServiceImpl::Watch(
    grpc::CallbackServerContext* ctx) {
  absl::StatusOr<std::optional<HostIdentity>> identity =
      auth_.AuthenticateHost(*ctx, "/keyfleet.v1.AgentService/Watch");
  if (!identity.ok()) return new RefusedWatch(ToGrpcStatus(identity.status()));
  return new WatchReactor(hub_, agents_, auth_, clock_, *std::move(identity));
}

grpc::ServerUnaryReactor* AgentServiceImpl::Renew(grpc::CallbackServerContext* ctx,
                                                  const v1::RenewRequest* req,
                                                  v1::RenewResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
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

grpc::Status EnrollmentServiceImpl::Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                                           v1::EnrollResponse* resp) {
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
