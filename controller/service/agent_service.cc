#include "controller/service/agent_service.h"

#include <mutex>

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
  WatchReactor(WatchHub& hub, AgentHandlers& agents) : hub_(hub), agents_(agents) {
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
    {
      std::lock_guard<std::mutex> lock(mu_);
      desired_due_ = true;
    }
    Pump();
  }

  void Heartbeat() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      heartbeat_due_ = true;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      out_ = v1::WatchResponse();  // Clear() would keep the strings' memory for every stream
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
    absl::StatusOr<HostDesiredState> state = agents_.Connect(hello.hostname(), labels);
    if (!state.ok()) {
      spdlog::warn("watch from {} refused: {}", hello.hostname(), state.status().ToString());
      return ToGrpcStatus(state.status());
    }
    hostname_ = hello.hostname();
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
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "a report for host " + report.hostname() + " on the Watch stream of " + hostname_);
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

  void FinishOnce(const grpc::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
      finishing_ = true;
    }
    Finish(status);
  }

  WatchHub& hub_;
  AgentHandlers& agents_;
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
  std::string sent_digest_;
  uint64_t sent_generation_ = 0;
  v1::WatchResponse out_;
};

}  // namespace

grpc::ServerBidiReactor<v1::AgentMessage, v1::WatchResponse>* AgentServiceImpl::Watch(
    grpc::CallbackServerContext*) {
  return new WatchReactor(hub_, agents_);
}

}  // namespace keyfleet::controller
