#include "controller/metrics/mutation_interceptor.h"

#include "absl/strings/strip.h"
#include "common/grpc_code_name.h"
#include "controller/service/admin_auth.h"

namespace keyfleet::controller::metrics {
namespace {

class MutationCounter final : public grpc::experimental::Interceptor {
 public:
  MutationCounter(ControllerMetrics& metrics, absl::string_view rpc)
      : metrics_(metrics), rpc_(rpc) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_.CountMutation(rpc_, keyfleet::GrpcCodeName(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  ControllerMetrics& metrics_;
  const absl::string_view rpc_;  // points into kAdminRpcRules
};

class MutationCounterFactoryImpl final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MutationCounterFactoryImpl(ControllerMetrics& metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    const absl::string_view rpc =
        method == nullptr ? absl::string_view() : AdminMutationName(method);
    return rpc.empty() ? nullptr : new MutationCounter(metrics_, rpc);
  }

 private:
  ControllerMetrics& metrics_;
};

}  // namespace

absl::string_view AdminMutationName(absl::string_view method) {
  if (!absl::ConsumePrefix(&method, kAdminServicePrefix)) return {};
  for (const AdminRpcRule& rule : kAdminRpcRules) {
    if (method == rule.rpc) return (rule.roles & kAuditorRole) ? absl::string_view() : rule.rpc;
  }
  return {};
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MutationCounterFactory(
    ControllerMetrics& metrics) {
  return std::make_unique<MutationCounterFactoryImpl>(metrics);
}

}  // namespace keyfleet::controller::metrics
