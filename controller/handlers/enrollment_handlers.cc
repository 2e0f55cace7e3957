#include "controller/handlers/enrollment_handlers.h"

#include <openssl/rand.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "common/status_macros.h"
#include "controller/enrollment_rules.h"
#include "controller/secret_token.h"
#include "controller/store/inventory_errors.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

absl::StatusOr<std::string> NewEnrollmentId() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    return absl::InternalError("the system's random number generator failed");
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

// The refusal's reason, made safe for the audit log and the log: messages quote what callers
// sent.
std::string Reason(const absl::Status& status) {
  std::string reason = absl::CHexEscape(status.message());
  if (reason.size() > SecurityEventBuffer::kMaxReasonBytes) {
    reason.resize(SecurityEventBuffer::kMaxReasonBytes);
    reason += "…";
  }
  return reason;
}

std::string DetailJson(const absl::Status& status) {
  return nlohmann::json{{"code", absl::StatusCodeToString(status.code())},
                        {"reason", Reason(status)}}
      .dump();
}

// "unauthenticated:ipv4:10.0.0.5:41234" and the same address on another port are one source.
absl::string_view Source(absl::string_view actor) {
  const size_t colon = actor.rfind(':');
  return colon == absl::string_view::npos ? actor : actor.substr(0, colon);
}

}  // namespace

void SecurityEventBuffer::AddDenial(const std::string& actor, const std::string& action,
                                    const std::string& target, const absl::Status& status,
                                    absl::Time at) {
  SecurityEvent e;
  e.actor = PrintableName(actor);
  e.at = at;
  e.action = action;
  e.target = PrintableName(target);
  e.detail_json = DetailJson(status);
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending_.empty()) {
    SecurityEvent& last = pending_.back();
    if (last.action == e.action && last.target == e.target && last.detail_json == e.detail_json &&
        Source(last.actor) == Source(e.actor)) {
      ++last.repeated;
      return;
    }
  }
  spdlog::warn("refused {} from {}: {}", e.action, e.actor, Reason(status));
  AddLocked(std::move(e));
}

size_t SecurityEventBuffer::SizeOf(const SecurityEvent& e) {
  return sizeof(e) + e.actor.size() + e.action.size() + e.target.size() + e.detail_json.size() +
         e.hostname.size();
}

void SecurityEventBuffer::Add(SecurityEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(std::move(event));
}

void SecurityEventBuffer::AddLocked(SecurityEvent event) {
  pending_bytes_ += SizeOf(event);
  pending_.push_back(std::move(event));
  while (pending_.size() > kMaxPending || pending_bytes_ > kMaxPendingBytes) {
    pending_bytes_ -= SizeOf(pending_.front());
    pending_.pop_front();
    ++dropped_;
  }
}

absl::Status SecurityEventBuffer::Flush() {
  std::vector<SecurityEvent> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t n = std::min(pending_.size(), kMaxFlushEvents);
    for (size_t i = 0; i < n; ++i) {
      pending_bytes_ -= SizeOf(pending_.front());
      batch.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    // Dropped events are gone; the audit log at least says how many.
    if (dropped_ > dropped_reported_) {
      SecurityEvent e;
      e.actor = "controller";
      e.at = absl::Now();
      e.action = "audit.events_dropped";
      e.target = "security events";
      e.detail_json = nlohmann::json{{"dropped", dropped_ - dropped_reported_}}.dump();
      batch.push_back(std::move(e));
      dropped_reported_ = dropped_;
    }
  }
  if (batch.empty()) return absl::OkStatus();
  for (SecurityEvent& e : batch) {
    if (e.repeated > 1) {
      nlohmann::json detail = nlohmann::json::parse(e.detail_json, nullptr, false);
      if (detail.is_object()) {
        detail["repeated"] = e.repeated;
        e.detail_json = detail.dump();
      }
    }
  }
  absl::Status status = store_.RecordSecurityEvents(batch);
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    // Put them back in front of anything that arrived meanwhile, within the bounds.
    for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
      if (pending_.size() >= kMaxPending || pending_bytes_ + SizeOf(*it) > kMaxPendingBytes) {
        ++dropped_;
        continue;
      }
      pending_bytes_ += SizeOf(*it);
      pending_.push_front(std::move(*it));
    }
  }
  return status;
}

void EnrollmentHandlers::Deny(const std::string& actor, const std::string& call,
                              const std::string& target, const absl::Status& status) {
  events_.AddDenial(actor, absl::StrCat("agent.", call, ".denied"), target, status, ctx_.Now());
}

absl::StatusOr<EnrollOutcome> EnrollmentHandlers::Enroll(const std::string& peer,
                                                         const std::string& token,
                                                         const std::string& hostname,
                                                         const std::string& csr_pem) {
  const std::string actor = absl::StrCat("unauthenticated:", peer);
  auto refuse = [&](const std::string& target, absl::Status status) {
    Deny(actor, "enroll", target, status);
    return status;
  };
  absl::StatusOr<SecretTokenParts> parts = ParseSecretToken(kJoinTokenFormat, token);
  if (!parts.ok()) return refuse(PrintableName(hostname), parts.status());
  if (!hostname.empty()) {
    if (absl::Status s = ValidateHostname(hostname); !s.ok()) return refuse(parts->id, s);
  }
  // A first look at the token, without the lock: a bad token is refused before any signing,
  // and a good one says which host the certificate is for. EnrollHost checks it all again
  // inside the transaction that consumes it.
  KF_ASSIGN_OR_RETURN(std::optional<JoinTokenRecord> known, ctx_.store.GetJoinToken(parts->id));
  const absl::Time now = ctx_.Now();
  if (!known) return refuse(parts->id, UnknownJoinTokenError());
  if (absl::Status s = CheckJoinToken(*known, parts->secret_hash, now); !s.ok()) {
    return refuse(parts->id, s);
  }
  // Existing hosts are checked again in the transaction (a generic token never takes one over).
  absl::StatusOr<std::string> name = EnrollmentHostname(*known, hostname, std::nullopt);
  if (!name.ok()) return refuse(parts->id, name.status());
  if (!ctx_.view.FindHost(*name)) {
    // A new host gets the token's labels: refused here if what they grant could not reach it.
    ProposedChange proposed;
    proposed.relabelled_host = HostRecord();
    proposed.relabelled_host->hostname = *name;
    proposed.relabelled_host->labels = known->labels;
    if (absl::Status s = ctx_.view.CheckDelivery(proposed, now); !s.ok()) {
      return refuse(parts->id, s);
    }
  }
  // The certificate is signed before anything is committed: a bad CSR consumes nothing, and a
  // consumed token always yields a certificate.
  KF_ASSIGN_OR_RETURN(std::string enrollment_id, NewEnrollmentId());
  absl::StatusOr<std::string> certificate =
      ca_.SignHostCertificate(csr_pem, *name, enrollment_id, now, lifetime_);
  if (!certificate.ok()) return refuse(parts->id, certificate.status());
  EnrollmentRequest request;
  request.token_id = parts->id;
  request.secret_hash = parts->secret_hash;
  request.hostname = *name;
  request.enrollment_id = enrollment_id;
  request.certificate_expires = now + lifetime_;
  absl::StatusOr<EnrollmentResult> enrolled =
      ctx_.store.EnrollHost({absl::StrCat("join-token:", parts->id), now}, request);
  if (!enrolled.ok()) {
    if (enrolled.status().code() == absl::StatusCode::kUnavailable) return enrolled.status();
    return refuse(parts->id, enrolled.status());
  }
  // Committed: the certificate is the agent's now. If this replica's view lags, the agent's
  // first Watch may be refused until it catches up (within feed_poll_interval); it retries.
  if (absl::Status caught_up = ctx_.follower.CatchUpTo(enrolled->change); !caught_up.ok()) {
    spdlog::warn("host {} enrolled, but the fleet view has not caught up yet: {}", *name,
                 caught_up.ToString());
  }
  spdlog::info("host {} enrolled with join token {}", *name, parts->id);
  return EnrollOutcome{enrolled->host, *std::move(certificate), ca_.trust_bundle_pem()};
}

absl::StatusOr<HostIdentity> EnrollmentHandlers::AuthenticateHost(const std::string& peer,
                                                                  const std::string& leaf_pem,
                                                                  const std::string& call) {
  absl::StatusOr<HostIdentity> identity = ca_.VerifyHostCertificate(leaf_pem, ctx_.clock.Now());
  if (!identity.ok()) {
    Deny(absl::StrCat("unauthenticated:", peer), call, peer, identity.status());
    return identity.status();
  }
  if (absl::Status refused = CheckEnrollment(*identity); !refused.ok()) {
    Deny(absl::StrCat("host:", identity->hostname), call, identity->hostname, refused);
    return refused;
  }
  return identity;
}

absl::Status EnrollmentHandlers::CheckEnrollment(const HostIdentity& identity) const {
  std::optional<std::string> current = ctx_.view.EnrollmentIdOf(identity.hostname);
  if (!current) {
    return absl::UnauthenticatedError(absl::StrCat(
        "host ", identity.hostname,
        " no longer exists (it was removed); its certificate is refused. Enroll it again "
        "with a new join token"));
  }
  if (*current != identity.enrollment_id) {
    return absl::UnauthenticatedError(absl::StrCat(
        "this certificate of host ", identity.hostname,
        " belongs to an earlier enrollment; the host was enrolled again and only the newer "
        "certificate works"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RenewOutcome> EnrollmentHandlers::Renew(const HostIdentity& identity,
                                                       const std::string& csr_pem) {
  const absl::Time now = ctx_.Now();
  absl::StatusOr<std::string> cert =
      ca_.SignHostCertificate(csr_pem, identity.hostname, identity.enrollment_id, now, lifetime_);
  if (!cert.ok()) {
    Deny(absl::StrCat("host:", identity.hostname), "renew", identity.hostname, cert.status());
    return cert.status();
  }
  SecurityEvent e;
  e.actor = absl::StrCat("host:", identity.hostname);
  e.at = now;
  e.action = "host.certificate.renew";
  e.target = identity.hostname;
  e.detail_json = nlohmann::json{{"expires", absl::FormatTime(now + lifetime_)}}.dump();
  e.hostname = identity.hostname;
  e.certificate_expires = now + lifetime_;
  events_.Add(std::move(e));
  return RenewOutcome{*std::move(cert), ca_.trust_bundle_pem()};
}

}  // namespace keyfleet::controller
