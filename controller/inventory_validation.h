// Checks on what admins send, before anything is written. Each returns INVALID_ARGUMENT saying
// what was wrong and what is allowed.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/model.h"

namespace keyfleet::controller {

inline constexpr size_t kMaxPrincipalNameBytes = 64;
inline constexpr size_t kMaxEmailBytes = 254;
inline constexpr size_t kMaxKeyLabelBytes = 64;
inline constexpr size_t kMaxAccountNameBytes = 32;  // useradd's limit
inline constexpr size_t kMaxReasonBytes = 1024;
// A key's comment travels in every authorized_keys line of the key (8 KiB each at most).
inline constexpr size_t kMaxKeyCommentBytes = 1024;

// 1..64 of [a-z0-9._-], starting with a letter or digit (it appears in authorized_keys comments).
absl::Status ValidatePrincipalName(absl::string_view name);
// Empty, or one '@' with text on both sides, no spaces or control characters.
absl::Status ValidateEmail(absl::string_view email);
// Empty, or 1..64 of [A-Za-z0-9._@:+-].
absl::Status ValidateKeyLabel(absl::string_view label);
// A local account name: not empty, no '/', not "." or "..", no NUL, at most 32 bytes of
// [a-z_][a-z0-9_-]* (optionally ending in '$'); "root" only with `allow_root`.
absl::Status ValidateAccountName(absl::string_view account, bool allow_root);
// authorized_keys options for a grant: parsed strictly (common/authorized_keys_options.h) and
// returned in canonical form. cert-authority is refused: a grant hands out keys, not CAs.
absl::StatusOr<std::string> CanonicalGrantOptions(absl::string_view options);
// max_key_age 1 day..10 years; warning_window and rotation_overlap 0..max_key_age; key types
// and RSA floor as ValidateKeyPolicy.
absl::Status ValidatePolicy(const PolicyRecord& policy);
// 1..1024 bytes, no control characters.
absl::Status ValidateReason(absl::string_view reason);

}  // namespace keyfleet::controller
