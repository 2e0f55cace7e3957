// One line of an authorized_keys file: [OPTIONS] TYPE BASE64 [COMMENT].
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/authorized_keys_options.h"
#include "common/ssh_public_key.h"

namespace keyfleet {

// Longer lines never reach a file.
inline constexpr size_t kMaxAuthorizedKeysLineBytes = 8 * 1024;

struct AuthorizedKeysLine {
  AuthorizedKeysOptions options;
  PublicKey key;  // key.comment holds the line's comment

  bool operator==(const AuthorizedKeysLine& o) const {
    return options == o.options && key == o.key;
  }
  bool operator!=(const AuthorizedKeysLine& o) const { return !(*this == o); }
};

// True for lines sshd skips: empty, only spaces and tabs, or a '#' comment after them.
bool IsBlankOrCommentLine(absl::string_view line);

// Parses one line given without its line terminator. Leading spaces and tabs are skipped, as
// sshd does. Like sshd, a line whose first field is a key type name is a key without options;
// otherwise the first field is options. Refused with the reason: lines over
// kMaxAuthorizedKeysLineBytes, a CR, LF or NUL anywhere, blank and comment lines, everything
// ParseAuthorizedKeysOptionsPrefix and ParsePublicKeyPrefix refuse, and options with no key.
absl::StatusOr<AuthorizedKeysLine> ParseAuthorizedKeysLine(absl::string_view line);

// "[OPTIONS ]TYPE BASE64[ COMMENT]". The inverse of the parser:
// ParseAuthorizedKeysLine(RenderAuthorizedKeysLine(x)) == x for every valid x.
std::string RenderAuthorizedKeysLine(const AuthorizedKeysLine& line);

// OK when the line renders to text the parser gives back unchanged and within the size limit:
// the check for lines assembled from parts (keys, grant options) before they are written.
absl::Status ValidateAuthorizedKeysLine(const AuthorizedKeysLine& line);

}  // namespace keyfleet
