// Agent identity without gRPC: enrollment with a join token, authentication of a host's client
// certificate (against the CA and the host's current enrollment), renewal, and the audit of
// every refusal. The service edge (controller/service/agent_auth.h) calls these; nothing else
// decides who a host is.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "controller/ca/certificate_authority.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

// Audit events raised on the request path (refusals, renewals), written by the replica's
// writer thread so a stream never waits on the database. Bounded: past kMaxPending events or
// kMaxPendingBytes the oldest are dropped and counted, and the next flush audits how many (a
// flood of refusals must not exhaust memory). A refusal identical to the one before it (same
// action, target and reason, from the same address) is counted into it rather than stored
// again, and a flush writes at most kMaxFlushEvents, so a flood can neither fill the audit log
// nor hold the inventory lock for long.
class SecurityEventBuffer {
 public:
  static constexpr size_t kMaxPending = 10000;
  static constexpr size_t kMaxPendingBytes = 8 << 20;
  static constexpr size_t kMaxFlushEvents = 500;
  // A refusal's reason is cut to this many bytes in the audit log (targets to PrintableName's).
  static constexpr size_t kMaxReasonBytes = 512;
  explicit SecurityEventBuffer(Store& store) : store_(store) {}
  void Add(SecurityEvent event);
  // Logs and buffers a refusal: `action` ("agent.watch.denied"), the status code and message
  // as its detail.
  void AddDenial(const std::string& actor, const std::string& action, const std::string& target,
                 const absl::Status& status, absl::Time at);
  // Writes up to kMaxFlushEvents of what is buffered, oldest first; on failure they stay
  // buffered for the next try.
  absl::Status Flush();

 private:
  Store& store_;
  mutable std::mutex mu_;
  static size_t SizeOf(const SecurityEvent& e);
  void AddLocked(SecurityEvent event);  // mu_ held

  std::deque<SecurityEvent> pending_;
  size_t pending_bytes_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_reported_ = 0;
};

struct EnrollOutcome {
  HostRecord host;
  std::string certificate_pem;
  std::string ca_bundle_pem;
};

struct RenewOutcome {
  std::string certificate_pem;
  std::string ca_bundle_pem;
};

class EnrollmentHandlers {
 public:
  EnrollmentHandlers(HandlerContext& ctx, const CertificateAuthority& ca,
                     SecurityEventBuffer& events, absl::Duration certificate_lifetime)
      : ctx_(ctx), ca_(ca), events_(events), lifetime_(certificate_lifetime) {}

  // `peer` names the caller in the audit log of a refusal (gRPC's peer address). The token is
  // looked at, the hostname settled and the certificate signed before the transaction that
  // consumes the token: a bad CSR consumes nothing, and a consumed token always yields a
  // certificate. Errors:
  // UNAUTHENTICATED (malformed, unknown, forged, expired, revoked or used-up token),
  // INVALID_ARGUMENT (CSR, hostname), PERMISSION_DENIED / ALREADY_EXISTS (hostname rules).
  absl::StatusOr<EnrollOutcome> Enroll(const std::string& peer, const std::string& token,
                                       const std::string& hostname, const std::string& csr_pem);

  // The host a client certificate (leaf PEM; "" when none was presented) identifies now:
  // issued by a trusted CA, valid at this moment, and naming the host's current enrollment.
  // UNAUTHENTICATED otherwise (a removed or re-enrolled host's certificate included);
  // PERMISSION_DENIED for a valid certificate that is not a host's. Refusals are audited with
  // action "agent.CALL.denied".
  absl::StatusOr<HostIdentity> AuthenticateHost(const std::string& peer,
                                                const std::string& leaf_pem,
                                                const std::string& call);
  // OK while `identity` names the host's current enrollment; UNAUTHENTICATED, saying why, once
  // the host was removed or enrolled again. Not audited (AuthenticateHost audits).
  absl::Status CheckEnrollment(const HostIdentity& identity) const;

  // A new certificate for an authenticated host, for the key in `csr_pem`.
  absl::StatusOr<RenewOutcome> Renew(const HostIdentity& identity, const std::string& csr_pem);

  // Audits a refusal decided at the service edge (e.g. a report naming another host).
  void Deny(const std::string& actor, const std::string& call, const std::string& target,
            const absl::Status& status);

 private:
  HandlerContext& ctx_;
  const CertificateAuthority& ca_;
  SecurityEventBuffer& events_;
  absl::Duration lifetime_;
};

}  // namespace keyfleet::controller
