// Every item of an admin list RPC, page by page as `keyfleet` follows next_page_token: for tests
// that compare a whole list (header only: the protos and gRPC come with the caller's stub).
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::testing {

// A list longer than this many pages is a test's runaway loop, not a list.
inline constexpr int kMaxListPages = 10000;

// Calls `rpc` on `admin` with `request`, then again with each answer's next_page_token, and
// merges every page into `all` (next_page_token left empty). Each call has its own context: the
// channel carries any credentials.
template <typename Request, typename Response>
grpc::Status ListAllPages(v1::AdminService::Stub& admin,
                          grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                          Request request, Response* all) {
  all->Clear();
  for (int page = 0; page < kMaxListPages; ++page) {
    grpc::ClientContext ctx;
    Response one;
    grpc::Status status = (admin.*rpc)(&ctx, request, &one);
    if (!status.ok()) return status;
    const std::string next = one.next_page_token();
    one.clear_next_page_token();
    all->MergeFrom(one);
    if (next.empty()) return grpc::Status::OK;
    request.set_page_token(next);
  }
  return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "the list did not end");
}

}  // namespace keyfleet::testing
