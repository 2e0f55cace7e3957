// The one table from absl::Status to grpc::Status. Every service returns through it.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>

#include "absl/status/status.h"

namespace keyfleet::controller {

// A message longer than this is cut (at a UTF-8 boundary, saying how much was left out): an
// error that quotes a huge input must neither echo it back nor outgrow gRPC's metadata limit
// (8 KiB), which would replace it with an unrelated transport error.
inline constexpr size_t kMaxErrorMessageBytes = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace keyfleet::controller
