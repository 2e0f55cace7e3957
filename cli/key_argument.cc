#include "cli/key_argument.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/fingerprint_command.h"
#include "cli/text_input.h"

namespace keyfleet::cli {

absl::StatusOr<std::string> FingerprintArgument(const std::string& arg) {
  if (absl::StartsWith(arg, "SHA256:")) {
    if (arg.size() != 7 + 43) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", SanitizeForTerminal(arg),
          "\" is not a SHA256 fingerprint (SHA256: and 43 base64 characters, as ssh-keygen -l "
          "prints)"));
    }
    return arg;
  }
  absl::StatusOr<std::string> content = ReadTextInput(arg);
  if (!content.ok()) return content.status();
  FingerprintResult found = FingerprintKeys(*content, FingerprintHash::kSha256);
  if (!found.errors.empty()) {
    const LineError& e = found.errors.front();
    return absl::InvalidArgumentError(
        absl::StrCat(DisplayName(arg), " is not a public key file (",
                     e.line == 0 ? e.reason : absl::StrCat("line ", e.line, ": ", e.reason), ")"));
  }
  if (found.keys.size() == 1) return found.keys[0].fingerprint;
  return absl::InvalidArgumentError(absl::StrCat(
      DisplayName(arg), found.keys.empty() ? " holds no public key" : " holds more than one key",
      "; give one key (a .pub file) or its SHA256: fingerprint"));
}

}  // namespace keyfleet::cli
