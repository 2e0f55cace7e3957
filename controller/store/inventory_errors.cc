#include "controller/store/inventory_errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace keyfleet::controller {
namespace {

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

}  // namespace

absl::Status PrincipalExistsError(const std::string& name) {
  return absl::AlreadyExistsError(absl::StrCat("principal \"", name, "\" already exists"));
}

absl::Status PrincipalNotFoundError(const std::string& name) {
  return absl::NotFoundError(
      absl::StrCat("no principal named \"", name, "\" (see `keyfleet principal list`)"));
}

absl::Status PrincipalDisabledError(const std::string& name) {
  return absl::FailedPreconditionError(
      absl::StrCat("principal \"", name, "\" is disabled; its keys cannot be changed or granted"));
}

absl::Status PrincipalAlreadyDisabledError(const std::string& name) {
  return absl::FailedPreconditionError(
      absl::StrCat("principal \"", name, "\" is already disabled"));
}

absl::Status CheckRotatable(const KeyRecord& key) {
  if (key.state == KeyState::kRevoked) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", key.fingerprint,
        " is revoked: a compromised key is not rotated; add the new key with `keyfleet key add`"));
  }
  if (key.state == KeyState::kSuperseded) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", key.fingerprint, " was already rotated to ", key.successor_fingerprint,
                     "; rotate that key instead"));
  }
  return absl::OkStatus();
}

absl::Status KeyOwnedError(const std::string& fingerprint, const std::string& owner,
                           const std::string& adding_to) {
  if (owner == adding_to) {
    return absl::AlreadyExistsError(
        absl::StrCat("key ", fingerprint, " is already one of ", owner,
                     "'s keys; nothing was added (see `keyfleet key show ", fingerprint, "`)"));
  }
  return absl::AlreadyExistsError(
      absl::StrCat("key ", fingerprint, " already belongs to principal \"", owner,
                   "\"; one key cannot serve two owners (generate a separate key for each)"));
}

absl::Status KeyRevokedError(const std::string& fingerprint, const std::string& reason,
                             absl::Time revoked_at) {
  return absl::FailedPreconditionError(
      absl::StrCat("key ", fingerprint, " was revoked on ", Day(revoked_at), " (reason: ", reason,
                   ") and can never be added again; generate a new key"));
}

absl::Status KeyNotFoundError(const std::string& fingerprint) {
  return absl::NotFoundError(
      absl::StrCat("no key with fingerprint ", fingerprint, " (see `keyfleet key list`)"));
}

absl::Status KeyAlreadyRevokedError(const std::string& fingerprint, absl::Time revoked_at) {
  return absl::FailedPreconditionError(
      absl::StrCat("key ", fingerprint, " is already revoked (since ", Day(revoked_at), ")"));
}

absl::Status GrantNotFoundError(int64_t id) {
  return absl::NotFoundError(absl::StrCat("no grant with id ", id, " (see `keyfleet grant list`)"));
}

absl::Status HostNotFoundError(const std::string& hostname) {
  return absl::NotFoundError(
      absl::StrCat("no host named \"", hostname, "\" (see `keyfleet host list`)"));
}

absl::Status JoinTokenNotFoundError(const std::string& id) {
  return absl::NotFoundError(
      absl::StrCat("no join token with id ", id, " (see `keyfleet host token list`)"));
}

absl::Status UnknownJoinTokenError() {
  return absl::UnauthenticatedError("the join token is not valid (no such token)");
}

absl::Status CredentialNameTakenError(const std::string& name) {
  return absl::AlreadyExistsError(
      absl::StrCat("a live credential is already named \"", name,
                   "\" (see `keyfleet token list`; revoke it first or choose another name)"));
}

absl::Status CredentialNotFoundError(const std::string& name_or_id) {
  return absl::NotFoundError(absl::StrCat("no live token or admin certificate is named \"",
                                          name_or_id, "\" (see `keyfleet token list`)"));
}

namespace {
constexpr char kRequestAlreadyDonePayload[] = "keyfleet.dev/request-already-done";
}  // namespace

absl::Status RequestAlreadyDoneError(const std::string& id) {
  absl::Status status = absl::AbortedError(
      absl::StrCat("request ", id, " was already applied; nothing more was changed"));
  status.SetPayload(kRequestAlreadyDonePayload, absl::Cord(id));
  return status;
}

bool IsRequestAlreadyDone(const absl::Status& status) {
  return status.GetPayload(kRequestAlreadyDonePayload).has_value();
}

}  // namespace keyfleet::controller
