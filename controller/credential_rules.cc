#include "controller/credential_rules.h"

#include "absl/strings/str_cat.h"
#include "common/duration_text.h"
#include "common/host_names.h"
#include "common/status_macros.h"
#include "controller/ca/certificate_authority.h"

namespace keyfleet::controller {
absl::Status ValidateCredentialSpec(const ApiCredentialRecord& c) {
  KF_RETURN_IF_ERROR(ValidateCredentialName(c.name));
  if (ValidateCredentialId(c.name).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--name \"", c.name,
        "\" looks like a credential id (16 hex digits), which `token revoke` also takes; choose "
        "a name that does not"));
  }
  if (c.role == Role::kOwner && c.principal.empty()) {
    return absl::InvalidArgumentError(
        "the owner role acts for one principal: give it with --principal");
  }
  if (c.role != Role::kOwner && !c.principal.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--principal applies to the owner role only (",
                                                   RoleName(c.role), " acts for no principal)"));
  }
  if (!c.host_scope.empty()) {
    if (c.role != Role::kOperator) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--hosts limits an operator to a host scope; ", c.role == Role::kOwner ? "an " : "a ",
          RoleName(c.role),
          " credential cannot be scoped (admin and auditor see the whole fleet, an owner its "
          "principal)"));
    }
    KF_RETURN_IF_ERROR(ValidateLabels(c.host_scope));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Time>> CredentialExpiry(absl::Time now,
                                                           std::optional<absl::Duration> lifetime,
                                                           bool never) {
  if (never && lifetime) {
    return absl::InvalidArgumentError(
        "give either --expires DURATION or --expires never, not both");
  }
  if (never) return std::optional<absl::Time>();
  const absl::Duration d = lifetime.value_or(kDefaultCredentialLifetime);
  if (d < kMinCredentialLifetime || d > kMaxCredentialLifetime) {
    return absl::InvalidArgumentError(
        absl::StrCat("--expires must be from ", absl::FormatDuration(kMinCredentialLifetime),
                     " to ", absl::FormatDuration(kMaxCredentialLifetime), " (or \"never\"), got ",
                     absl::FormatDuration(d)));
  }
  return std::optional<absl::Time>(now + d);
}

absl::Status CheckCredentialUsable(const ApiCredentialRecord& c, absl::Time now) {
  if (c.revoked_at) {
    return absl::UnauthenticatedError(
        absl::StrCat(CredentialDescription(c), " was revoked at ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *c.revoked_at, absl::UTCTimeZone())));
  }
  if (c.expires_at && now >= *c.expires_at) {
    return absl::UnauthenticatedError(
        absl::StrCat(CredentialDescription(c), " expired at ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *c.expires_at, absl::UTCTimeZone()),
                     "; ask an admin for a new one (`keyfleet token create`)"));
  }
  return absl::OkStatus();
}

std::string CredentialDescription(const ApiCredentialRecord& c) {
  return absl::StrCat(c.kind == CredentialKind::kToken ? "token" : "admin certificate", " \"",
                      c.name, "\"");
}

std::string CredentialActor(const ApiCredentialRecord& c) {
  return absl::StrCat(c.kind == CredentialKind::kToken ? "token:" : "cert:", c.name);
}

}  // namespace keyfleet::controller
