// What makes an API credential (token or admin certificate) acceptable to create and, later,
// to use. Shared by the handlers and the stores' tests; no I/O.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/model.h"

namespace keyfleet::controller {

// Made once per database on the first start (controller_server.cc), never again once revoked.
inline constexpr char kBootstrapCredentialName[] = "bootstrap";
inline const absl::Duration kDefaultCredentialLifetime = absl::Hours(24 * 90);
inline const absl::Duration kMinCredentialLifetime = absl::Minutes(5);
inline const absl::Duration kMaxCredentialLifetime = absl::Hours(24 * 3660);
// How often a credential's last_used_at is written at most (every call would be a write).
inline const absl::Duration kLastUsedResolution = absl::Minutes(1);

// The name, role, principal and scope of a credential to create:
// - the name as ValidateCredentialName allows;
// - kOwner needs a principal and takes no host scope; the other roles take no principal;
// - a host scope (valid labels) limits kOperator only.
// INVALID_ARGUMENT naming the flag and what is allowed. Whether the principal exists is the
// handler's to check.
absl::Status ValidateCredentialSpec(const ApiCredentialRecord& credential);

// The expiry of a credential created at `now`: now + `lifetime` (default
// kDefaultCredentialLifetime), nullopt when `never`. INVALID_ARGUMENT outside
// [kMinCredentialLifetime, kMaxCredentialLifetime] or when both are given.
absl::StatusOr<std::optional<absl::Time>> CredentialExpiry(absl::Time now,
                                                           std::optional<absl::Duration> lifetime,
                                                           bool never);

// OK when the credential may be used at `now`; UNAUTHENTICATED saying when it was revoked or
// expired otherwise.
absl::Status CheckCredentialUsable(const ApiCredentialRecord& credential, absl::Time now);

// How messages name it: `token "NAME"` or `admin certificate "NAME"`.
std::string CredentialDescription(const ApiCredentialRecord& credential);

// How the audit log names the holder: "token:NAME" or "cert:NAME".
std::string CredentialActor(const ApiCredentialRecord& credential);

}  // namespace keyfleet::controller
