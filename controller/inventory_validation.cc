#include "controller/inventory_validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/authorized_keys_options.h"
#include "common/duration_text.h"
#include "common/key_policy.h"
#include "common/source_address_match.h"
#include "common/status_macros.h"

namespace keyfleet::controller {
namespace {

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool HasControl(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidatePrincipalName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxPrincipalNameBytes && IsLowerAlnum(name[0]);
  for (char c : name) ok = ok && (IsLowerAlnum(c) || c == '.' || c == '_' || c == '-');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "principal name \"", absl::CHexEscape(name), "\" is not allowed: use 1 to ",
      kMaxPrincipalNameBytes,
      " lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"));
}

absl::Status ValidateEmail(absl::string_view email) {
  if (email.empty()) return absl::OkStatus();
  size_t at = email.find('@');
  bool ok = email.size() <= kMaxEmailBytes && at != absl::string_view::npos && at > 0 &&
            at + 1 < email.size() && email.find('@', at + 1) == absl::string_view::npos &&
            !HasControl(email) && email.find(' ') == absl::string_view::npos;
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("email \"", absl::CHexEscape(email),
                                                 "\" is not an address like name@example.com"));
}

absl::Status ValidateKeyLabel(absl::string_view label) {
  bool ok = label.size() <= kMaxKeyLabelBytes;
  for (char c : label) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                absl::string_view("._@:+-").find(c) != absl::string_view::npos);
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("key label \"", absl::CHexEscape(label),
                                                 "\" is not allowed: use up to ", kMaxKeyLabelBytes,
                                                 " letters, digits or . _ @ : + - (no spaces)"));
}

absl::Status ValidateAccountName(absl::string_view account, bool allow_root) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("account \"", absl::CHexEscape(account), "\" is refused: ", why));
  };
  if (account.empty()) return refuse("it is empty");
  if (account.find('\0') != absl::string_view::npos) return refuse("it contains a NUL byte");
  if (account.find('/') != absl::string_view::npos) return refuse("it contains '/'");
  if (account == "." || account == "..") return refuse("it is a path component");
  if (account.size() > kMaxAccountNameBytes) {
    return refuse(absl::StrCat("it is longer than ", kMaxAccountNameBytes, " bytes"));
  }
  absl::string_view body = account;
  if (body.back() == '$') body.remove_suffix(1);
  bool ok = !body.empty() && ((body[0] >= 'a' && body[0] <= 'z') || body[0] == '_');
  for (char c : body) ok = ok && (IsLowerAlnum(c) || c == '_' || c == '-');
  if (!ok) {
    return refuse(
        "use a POSIX account name: a lower-case letter or '_', then lower-case letters, digits, "
        "'_' or '-'");
  }
  if (account == "root" && !allow_root) {
    return refuse("granting root logins needs the explicit allow-root flag (--allow-root)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CanonicalGrantOptions(absl::string_view text) {
  if (text.empty()) return std::string();
  absl::StatusOr<AuthorizedKeysOptions> options = ParseAuthorizedKeysOptions(text);
  if (!options.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("grant options are invalid: ", options.status().message()));
  }
  if (options->Has("cert-authority")) {
    return absl::InvalidArgumentError(
        "grant options may not include cert-authority: a grant authorizes keys, not "
        "certificate authorities");
  }
  if (options->Has("expiry-time")) {
    // keyfleet writes each line's expiry-time itself (the earlier of the key's and the grant's
    // expiry, in UTC); a second one, possibly in the host's time zone, would make the expiry
    // `keyfleet access` shows differ from the one sshd enforces.
    return absl::InvalidArgumentError(
        "grant options may not include expiry-time: keyfleet writes each line's expiry itself; "
        "give the grant an end with --expires (e.g. --expires 30d or --expires "
        "2027-01-31T00:00:00Z)");
  }
  if (const std::string* from = options->Value("from")) {
    // sshd denies every login through a from= list it finds invalid (10.0.0.1/8, a /33, an
    // empty entry): such a grant would grant nothing.
    if (absl::Status s = ValidateFromPatternList(*from); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("grant options are invalid: ", s.message()));
    }
  }
  return RenderAuthorizedKeysOptions(*options);
}

namespace {

absl::Status ValidateRotationRule(const RotationRule& rule, absl::string_view whose) {
  const absl::Duration day = absl::Hours(24);
  if (rule.max_key_age < day || rule.max_key_age > 3650 * day) {
    return absl::InvalidArgumentError(absl::StrCat(whose, "max key age ",
                                                   FormatDurationText(rule.max_key_age),
                                                   " is out of range: allowed 1d to 3650d"));
  }
  if (rule.warning_window < absl::ZeroDuration() || rule.warning_window > rule.max_key_age) {
    return absl::InvalidArgumentError(
        absl::StrCat(whose, "warning window must be between 0 and the max key age (",
                     FormatDurationText(rule.max_key_age), ")"));
  }
  if (rule.rotation_overlap < absl::ZeroDuration() || rule.rotation_overlap > rule.max_key_age) {
    return absl::InvalidArgumentError(
        absl::StrCat(whose, "rotation overlap must be between 0 and the max key age (",
                     FormatDurationText(rule.max_key_age), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePolicy(const PolicyRecord& policy) {
  KF_RETURN_IF_ERROR(ValidateRotationRule(policy.DefaultRule(), "the "));
  if (policy.person_rule)
    KF_RETURN_IF_ERROR(ValidateRotationRule(*policy.person_rule, "people's "));
  if (policy.service_rule) {
    KF_RETURN_IF_ERROR(ValidateRotationRule(*policy.service_rule, "services' "));
  }
  absl::Status keys = ValidateKeyPolicy(policy.key_policy);
  if (!keys.ok()) return absl::InvalidArgumentError(keys.message());
  return absl::OkStatus();
}

absl::Status ValidateReason(absl::string_view reason) {
  if (reason.empty()) {
    return absl::InvalidArgumentError("a reason is required (it is kept with the revocation)");
  }
  if (reason.size() > kMaxReasonBytes || HasControl(reason)) {
    return absl::InvalidArgumentError(absl::StrCat("the reason must be at most ", kMaxReasonBytes,
                                                   " bytes without control characters"));
  }
  return absl::OkStatus();
}

}  // namespace keyfleet::controller
