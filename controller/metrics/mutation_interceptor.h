// Counts admin mutations by RPC and gRPC status code at the one place every admin call passes:
// a gRPC server interceptor, which sees the status each call is answered with (refusals by the
// authorizer, validation errors and successes alike), whatever the handler did.
//
// A mutation is an AdminService RPC the auditor role may not call (kAdminRpcRules: the auditor
// is read-only); the RPC label comes from that table, so labels stay bounded. Other calls (reads,
// the agent and health services) get no interceptor at all.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "absl/strings/string_view.h"
#include "controller/metrics/controller_metrics.h"

namespace keyfleet::controller::metrics {

inline constexpr char kAdminServicePrefix[] = "/keyfleet.v1.AdminService/";

// The rule table's name for `method` ("/keyfleet.v1.AdminService/AddKeys" -> "AddKeys") when it
// is a mutation; empty otherwise.
absl::string_view AdminMutationName(absl::string_view method);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MutationCounterFactory(
    ControllerMetrics& metrics);

}  // namespace keyfleet::controller::metrics
