// Idempotent admin mutations, at the service edge. A caller tags a mutation with a request id
// (metadata x-keyfleet-request-id; the CLI sends one per mutation and keeps it across its
// retries). The store records the id in the mutation's own transaction, so the id exists if and
// only if the mutation committed; a second attempt — a retry after a lost answer or a timeout,
// or a duplicate racing the first — is answered with the first outcome and changes nothing:
//   - the answer recorded right after the first commit, byte for byte;
//   - or, when that answer was not recorded (the controller died in between), the answer with
//     only its `change` set;
//   - or, when the answer held a secret (a private key, a token: shown once, never stored),
//     FAILED_PRECONDITION saying the request was done and the secret cannot be shown again.
// An id used for a different request (another RPC, caller or content) is FAILED_PRECONDITION.
// Replays carry x-keyfleet-replayed: 1 in their trailing metadata.
//
// The caller's deadline travels with the tag: the store neither waits nor commits past it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/model.h"
#include "controller/store/store.h"
#include "google/protobuf/message.h"

namespace keyfleet::controller {

class RequestLedger {
 public:
  explicit RequestLedger(Store& store) : store_(store) {}

  // The handlers' Actor for call `rpc` by `actor_name`: the request id from the metadata (if
  // any, validated), the RPC and a digest of `request`, and the call's deadline.
  static absl::StatusOr<Actor> ActorFor(const grpc::ServerContext& ctx, absl::string_view rpc,
                                        const google::protobuf::Message& request,
                                        std::string actor_name);

  // Runs `mutation` once per request id: a replay is answered from the store (filling
  // `response`) without running it; after a run, the answer is recorded (secrets withheld).
  // Untagged calls just run.
  grpc::Status Run(grpc::ServerContext& ctx, const Actor& actor,
                   google::protobuf::Message* response,
                   const std::function<grpc::Status()>& mutation);

 private:
  // The first outcome of `actor`'s request, or nullopt when none committed.
  std::optional<grpc::Status> Replay(grpc::ServerContext& ctx, const Actor& actor,
                                     google::protobuf::Message* response);
  // The answer to a repeat of `actor`'s request, whose first outcome is `outcome`.
  grpc::Status Answer(grpc::ServerContext& ctx, const Actor& actor, const RequestOutcome& outcome,
                      google::protobuf::Message* response);
  void Record(const Actor& actor, const google::protobuf::Message& response);

  Store& store_;
};

}  // namespace keyfleet::controller
