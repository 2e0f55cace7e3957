#include "controller/service/agent_service.h"

#include <google/protobuf/util/json_util.h>

#include <mutex>

#include "controller/service/proto_convert.h"
#include "controller/service/status_mapping.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// One agent's stream. At most one write is in flight; what became due meanwhile is sent when
// it completes. gRPC calls (StartWrite, Finish) are made outside our lock, since reactions may
// run inline.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchResponse>,
                           public WatchHub::Subscriber {
 public:
  WatchReactor(WatchHub& hub, AgentHandlers& agents, std::string hostname)
      : hub_(hub), agents_(agents), hostname_(std::move(hostname)) {}

  void Begin() {
    hub_.Add(hostname_, this);
    Notify();
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
    hub_.Remove(hostname_, this);
    delete this;
  }

 private:
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
  const std::string hostname_;
  std::mutex mu_;
  bool writing_ = false;
  bool finishing_ = false;
  bool desired_due_ = false;
  bool heartbeat_due_ = false;
  std::string sent_digest_;
  uint64_t sent_generation_ = 0;
  v1::WatchResponse out_;
};

// A stream that ends at once with an error.
class FailedWatch final : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  explicit FailedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::WatchResponse>* AgentServiceImpl::Watch(grpc::CallbackServerContext*,
                                                                     const v1::WatchRequest* req) {
  Labels labels(req->labels().begin(), req->labels().end());
  absl::StatusOr<HostDesiredState> state = agents_.Connect(req->hostname(), labels);
  if (!state.ok()) {
    spdlog::warn("watch from {} refused: {}", req->hostname(), state.status().ToString());
    return new FailedWatch(ToGrpcStatus(state.status()));
  }
  auto* reactor = new WatchReactor(hub_, agents_, req->hostname());
  reactor->Begin();
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceImpl::Report(grpc::CallbackServerContext* ctx,
                                                   const v1::ReportRequest* req,
                                                   v1::ReportResponse*) {
  HostReport report;
  report.hostname = req->hostname();
  report.applied_generation = req->applied_generation();
  report.applied_digest = req->applied_digest();
  report.host_key_fingerprints.assign(req->host_key_fingerprints().begin(),
                                      req->host_key_fingerprints().end());
  std::string drift = "[";
  for (int i = 0; i < req->drift_size(); ++i) {
    std::string item;
    (void)google::protobuf::util::MessageToJsonString(req->drift(i), &item);
    if (i > 0) drift += ",";
    drift += item;
  }
  report.drift_json = drift + "]";
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(agents_.Report(std::move(report))));
  return reactor;
}

}  // namespace keyfleet::controller
