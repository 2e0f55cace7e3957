// The one table from absl::Status to grpc::Status. Every service returns through it.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace keyfleet::controller {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace keyfleet::controller
