#include "common/authorized_keys_line.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/openssh_text.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

// Whether an unknown first field looks like someone meant it as a key type.
bool LooksLikeKeyType(absl::string_view field) {
  if (field.find_first_of("=,\"") != absl::string_view::npos) return false;
  return absl::StartsWith(field, "ssh-") || absl::StartsWith(field, "ecdsa-") ||
         absl::StartsWith(field, "sk-") || absl::StartsWith(field, "rsa-") ||
         absl::StartsWith(field, "webauthn-");
}

}  // namespace

bool IsBlankOrCommentLine(absl::string_view line) {
  const size_t pos = SkipFieldBlanks(line, 0);
  return pos == line.size() || line[pos] == '#';
}

absl::StatusOr<AuthorizedKeysLine> ParseAuthorizedKeysLine(absl::string_view line) {
  if (line.size() > kMaxAuthorizedKeysLineBytes) {
    return absl::InvalidArgumentError(absl::StrCat("line is ", line.size(), " bytes; at most ",
                                                   kMaxAuthorizedKeysLineBytes, " allowed"));
  }
  KF_RETURN_IF_ERROR(CheckNoLineBreaks(line, "line"));
  if (IsBlankOrCommentLine(line)) {
    return absl::InvalidArgumentError("line is blank or a comment, not a key");
  }
  absl::string_view rest = line.substr(SkipFieldBlanks(line, 0));
  AuthorizedKeysLine out;
  const absl::string_view first_field = rest.substr(0, rest.find_first_of(" \t"));
  if (!KeyTypeFromName(first_field)) {
    size_t consumed = 0;
    auto options = ParseAuthorizedKeysOptionsPrefix(rest, &consumed);
    if (!options.ok()) {
      if (LooksLikeKeyType(first_field)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown key type \"", first_field.substr(0, 64),
                         "\" (or an unknown option): ", options.status().message()));
      }
      return options.status();
    }
    out.options = *std::move(options);
    rest = rest.substr(SkipFieldBlanks(rest, consumed));
    if (rest.empty()) return absl::InvalidArgumentError("no key after the options");
  }
  absl::string_view comment;
  KF_ASSIGN_OR_RETURN(out.key, ParsePublicKeyPrefix(rest, &comment));
  out.key.comment = std::string(comment);
  return out;
}

std::string RenderAuthorizedKeysLine(const AuthorizedKeysLine& line) {
  if (line.options.empty()) return RenderPublicKey(line.key);
  return absl::StrCat(RenderAuthorizedKeysOptions(line.options), " ", RenderPublicKey(line.key));
}

absl::Status ValidateAuthorizedKeysLine(const AuthorizedKeysLine& line) {
  KF_RETURN_IF_ERROR(ValidateKeyComment(line.key.comment));
  KF_RETURN_IF_ERROR(ValidateAuthorizedKeysOptions(line.options));
  KF_ASSIGN_OR_RETURN(AuthorizedKeysLine reparsed,
                      ParseAuthorizedKeysLine(RenderAuthorizedKeysLine(line)));
  if (reparsed != line) {
    return absl::InvalidArgumentError("line does not survive being written and read back");
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
