// Talking to the controller from `keyfleet`: where it is, one call with a deadline, and what a
// failed call means for the exit code (1 refused, with the server's reason; 3 unreachable).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "cli/global_options.h"
#include "common/request_id.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::cli {

inline constexpr char kDefaultController[] = "127.0.0.1:7443";

// --controller, else $KEYFLEET_CONTROLLER (already folded into globals by main), else
// `controller:` in ~/.config/keyfleet/config.yaml, else 127.0.0.1:7443.
std::string ResolveControllerAddress(const GlobalOptions& globals);

// How the CLI reaches and proves itself to the controller.
struct ClientCredentials {
  std::shared_ptr<grpc::ChannelCredentials> channel;
  std::string token;  // sent as "authorization: Bearer TOKEN"; "" with a certificate
};

// TLS verifying the controller against the CA file: --ca, else $KEYFLEET_CA (folded in by main),
// else `ca:` in the config file; plaintext only with --insecure-dev (or `insecure_dev: true`).
// The caller's identity: --token / --token-file (flags, then $KEYFLEET_TOKEN /
// $KEYFLEET_TOKEN_FILE folded in by main, then `token_file:` / `token:` in the config file), or
// --cert and --key (or `cert:` and `key:`) for an admin certificate over mTLS. A token file and
// a key file must be readable by their owner only.
// INVALID_ARGUMENT saying what to fix when something is missing, unreadable or contradictory.
absl::StatusOr<ClientCredentials> ResolveCredentials(const GlobalOptions& globals);

class ControllerClient {
 public:
  ControllerClient(const GlobalOptions& globals, ClientCredentials credentials);

  v1::AdminService::Stub& admin() { return *admin_; }
  const std::string& address() const { return address_; }

  // A context with the call deadline and the caller's token.
  std::unique_ptr<grpc::ClientContext> Context() const;

  // Calls list `rpc` page by page (the request's page_token set from each answer's
  // next_page_token) and hands each page to `on_page` as it arrives, so a long list (a million
  // audit events) is never held whole. An `on_page` returning bool stops after a page when it
  // returns false (it has what it needs).
  template <typename Request, typename Response, typename OnPage>
  grpc::Status ForEachPage(grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*,
                                                                       const Request&, Response*),
                           Request request, OnPage on_page) {
    for (;;) {
      Response page;
      grpc::Status status = (admin_.get()->*rpc)(Context().get(), request, &page);
      if (!status.ok()) return status;
      std::string next = page.next_page_token();
      page.clear_next_page_token();
      if constexpr (std::is_same_v<std::invoke_result_t<OnPage&, const Response&>, bool>) {
        if (!on_page(page)) return grpc::Status::OK;
      } else {
        on_page(page);
      }
      if (next.empty()) return grpc::Status::OK;
      request.set_page_token(next);
    }
  }

  // The same, with every page's items merged into one answer.
  template <typename Request, typename Response>
  grpc::Status ListAll(grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                       Request request, Response* response) {
    response->Clear();
    return ForEachPage(rpc, std::move(request),
                       [response](const Response& page) { response->MergeFrom(page); });
  }

  // Calls mutation `rpc` tagged with a request id (one per call: --request-id for the first,
  // ID.2, ID.3… after it; else random). When the answer is lost — the controller unreachable
  // or silent past the deadline, or its database lost mid-commit — it asks again with the same
  // id on a new connection that waits for the controller to come back (a restart, a failover),
  // up to kMutationAttempts times in all, saying so on stderr: the controller answers a
  // repeat with the first outcome, so nothing is done twice. Once an attempt's outcome was
  // unknown (the database lost mid-commit, during a failover say), only an answer settles it:
  // a later "database unavailable, nothing was changed" is about that later attempt, so the
  // CLI asks again, and if none answers, says the outcome is still unknown and how to learn it.
  template <typename Request, typename Response>
  grpc::Status Mutate(grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*,
                                                                  const Request&, Response*),
                      const Request& request, Response* response) {
    const std::string id = NextRequestId();
    grpc::Status status;
    bool outcome_unknown = false;
    for (int attempt = 1;; ++attempt) {
      std::unique_ptr<grpc::ClientContext> ctx = Context();
      if (!id.empty()) ctx->AddMetadata(kRequestIdMetadata, id);
      status = (admin_.get()->*rpc)(ctx.get(), request, response);
      outcome_unknown = outcome_unknown || OutcomeUnknown(status);
      const bool unanswered = AnswerMayBeLost(status) || (outcome_unknown && NoAnswer(status));
      if (attempt >= kMutationAttempts || !unanswered) {
        return outcome_unknown && NoAnswer(status) ? StillUnknown(status, id) : status;
      }
      WaitBeforeAsking(status, id, attempt);
    }
  }

  // Prints why `status` failed to stderr and returns the exit code: 3 when the controller could
  // not be reached (UNAVAILABLE, DEADLINE_EXCEEDED), 1 otherwise (the request was refused).
  int Fail(const grpc::Status& status) const;

 private:
  static constexpr int kMutationAttempts = 3;

  std::string NextRequestId();
  // The controller's TLS handshake failed (its certificate does not verify against our CA):
  // the request was never sent, and asking again cannot help.
  static bool CannotTrust(const grpc::Status& status);
  // The call may have been done without its answer reaching us: asking again is the way to
  // know (and safe, with the same id).
  static bool AnswerMayBeLost(const grpc::Status& status);
  // The controller said the commit's outcome is unknown (its database lost mid-commit).
  static bool OutcomeUnknown(const grpc::Status& status);
  // No answer about the request at all: UNAVAILABLE or DEADLINE_EXCEEDED.
  static bool NoAnswer(const grpc::Status& status);
  // The final word when an attempt's outcome was unknown and no later one settled it.
  static grpc::Status StillUnknown(const grpc::Status& last, const std::string& id);
  void WaitBeforeAsking(const grpc::Status& status, const std::string& id, int attempt);
  // A new channel (and its own connection) for asking again: the old one may sit in gRPC's
  // reconnect backoff after the controller went away, failing at once with the stale error
  // even when the controller is back.
  void Reconnect();

  std::string address_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string token_;
  std::string request_id_;  // --request-id
  int mutations_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace keyfleet::cli
