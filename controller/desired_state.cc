#include "controller/desired_state.h"

#include "absl/strings/str_cat.h"
#include "common/authorized_keys_line.h"
#include "common/expiry_time.h"
#include "common/sha256.h"
#include "controller/field_hasher.h"

namespace keyfleet::controller {
absl::StatusOr<std::string> RenderManagedLine(const AuthorizedKeysOptions& grant_options,
                                              absl::Time expires_at, const KeyRecord& key) {
  AuthorizedKeysOptions options = grant_options;
  options.items.push_back({"expiry-time", FormatExpiryTime(expires_at)});
  std::string comment = key.principal;
  if (!key.label.empty()) absl::StrAppend(&comment, "/", key.label);
  std::string line =
      absl::StrCat(RenderAuthorizedKeysOptions(options), " ", key.public_key, " ", comment);
  if (line.size() > kMaxAuthorizedKeysLineBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("the authorized_keys line for key ", key.fingerprint, " would be ",
                     line.size(), " bytes; the limit is ", kMaxAuthorizedKeysLineBytes));
  }
  return line;
}

absl::StatusOr<AuthorizedKeysOptions> ParseStoredGrantOptions(const std::string& text) {
  if (text.empty()) return AuthorizedKeysOptions();
  return ParseAuthorizedKeysOptions(text);
}

absl::Status CheckGrantLinesFit(const GrantRecord& grant, const std::vector<KeyRecord>& keys) {
  absl::StatusOr<AuthorizedKeysOptions> options = ParseStoredGrantOptions(grant.options);
  if (!options.ok()) return options.status();
  for (const KeyRecord& key : keys) {
    // The expiry's text has one length whatever the time: any stands for all.
    absl::StatusOr<std::string> line = RenderManagedLine(*options, key.expires_at, key);
    if (!line.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(line.status().message(),
                       " (a longer line can never reach a host): shorten the "
                       "grant's --options, the key's label, or grant a shorter key"));
    }
  }
  return absl::OkStatus();
}

ManagedLinePtr MakeManagedLine(std::string text) {
  auto line = std::make_shared<ManagedLine>();
  line->hash = Sha256Digest(text);
  line->text = std::move(text);
  return line;
}

std::string DesiredStateDigest(const HostDesiredState& state) {
  FieldHasher hasher("keyfleet-desired-v1");
  hasher.Add(UnmanagedKeysModeName(state.unmanaged));
  for (const AccountDesiredState& account : state.accounts) {
    hasher.Add(account.account);
    hasher.Add(absl::StrCat(account.lines.size()));
    for (const ManagedLinePtr& line : account.lines) hasher.Add(line->hash);
  }
  if (state.revocations != nullptr) hasher.Add(absl::StrCat("revoked ", state.revocations->total));
  return hasher.HexDigest();
}

}  // namespace keyfleet::controller
