#include "common/openssh_text.h"

#include "absl/strings/str_cat.h"

namespace keyfleet {

size_t SkipFieldBlanks(absl::string_view s, size_t pos) {
  while (pos < s.size() && IsFieldBlank(s[pos])) ++pos;
  return pos;
}

absl::Status CheckNoLineBreaks(absl::string_view text, absl::string_view what) {
  const size_t bad = text.find_first_of(absl::string_view("\r\n\0", 3));
  if (bad == absl::string_view::npos) return absl::OkStatus();
  const char* name = text[bad] == '\r'   ? "a carriage return"
                     : text[bad] == '\n' ? "a line feed"
                                         : "a NUL byte";
  return absl::InvalidArgumentError(absl::StrCat(what, " contains ", name, " at offset ", bad));
}

}  // namespace keyfleet
