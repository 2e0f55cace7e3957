// The field grammar shared by OpenSSH's one-line text formats (public keys, authorized_keys):
// fields are separated by runs of spaces and tabs, and a line never holds CR, LF or NUL.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

// A space or a tab: the only field separators sshd knows.
inline bool IsFieldBlank(char c) {
  return c == ' ' || c == '\t';
}

// The first position at or after `pos` that is not a space or tab (s.size() if none).
size_t SkipFieldBlanks(absl::string_view s, size_t pos);

// INVALID_ARGUMENT "<what> contains a carriage return|a line feed|a NUL byte at offset N" for
// the first such byte in `text`; OK when there is none.
absl::Status CheckNoLineBreaks(absl::string_view text, absl::string_view what);

}  // namespace keyfleet
