#include "controller/enrollment_rules.h"

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_names.h"
#include "common/status_macros.h"

namespace keyfleet::controller {

absl::Status CheckJoinToken(const JoinTokenRecord& token, const std::string& secret_hash,
                            absl::Time now) {
  if (secret_hash.size() != token.secret_hash.size() ||
      CRYPTO_memcmp(secret_hash.data(), token.secret_hash.data(), secret_hash.size()) != 0) {
    return absl::UnauthenticatedError("the join token is not valid (its secret does not match)");
  }
  if (token.revoked_at) {
    return absl::UnauthenticatedError(absl::StrCat("join token ", token.id, " was revoked at ",
                                                   absl::FormatTime(*token.revoked_at)));
  }
  if (now >= token.expires_at) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token ", token.id, " expired at ", absl::FormatTime(token.expires_at),
                     "; create a new one with `keyfleet host token create`"));
  }
  if (token.uses >= token.uses_allowed) {
    return absl::UnauthenticatedError(absl::StrCat("join token ", token.id,
                                                   " has already been used (", token.uses, " of ",
                                                   token.uses_allowed, " uses)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnrollmentHostname(const JoinTokenRecord& token,
                                               const std::string& requested,
                                               const std::optional<HostRecord>& existing) {
  if (!token.hostname.empty()) {
    if (!requested.empty() && requested != token.hostname) {
      return absl::PermissionDeniedError(absl::StrCat("join token ", token.id, " enrolls host ",
                                                      token.hostname, ", not ", requested));
    }
    if (existing && !LabelsCover(existing->labels, token.creator_scope)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "join token ", token.id, " was made by an operator limited to hosts ",
          absl::StrJoin(token.creator_scope, ",", absl::PairFormatter("=")), "; host ",
          token.hostname, " is outside that scope (an unscoped operator must re-enroll it)"));
    }
    return token.hostname;
  }
  if (requested.empty()) {
    return absl::InvalidArgumentError(
        "no hostname given, and the join token names none: pass --hostname to the agent");
  }
  KF_RETURN_IF_ERROR(ValidateHostname(requested));
  if (existing) {
    return absl::AlreadyExistsError(absl::StrCat(
        "host ", requested,
        " already exists; to enroll it again, use a token made for it: `keyfleet host token "
        "create --hostname ",
        requested, "`"));
  }
  return requested;
}

HostRecord EnrolledHost(const JoinTokenRecord& token, const std::string& hostname,
                        const std::optional<HostRecord>& existing, const EnrollmentRequest& request,
                        absl::Time at) {
  HostRecord host = existing.value_or(HostRecord());
  host.hostname = hostname;
  if (!existing) host.first_seen = host.last_seen = at;
  // A scoped operator's token never relabels an existing host (labels define scopes).
  if (!existing || (!token.labels.empty() && token.creator_scope.empty())) {
    host.labels = token.labels;
  }
  host.enrollment_id = request.enrollment_id;
  host.enrolled_at = at;
  host.certificate_expires = request.certificate_expires;
  return host;
}

const char* JoinTokenState(const JoinTokenRecord& token, absl::Time now) {
  if (token.revoked_at) return "revoked";
  if (token.uses >= token.uses_allowed) return "used";
  if (now >= token.expires_at) return "expired";
  return "active";
}

}  // namespace keyfleet::controller
