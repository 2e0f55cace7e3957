#include "node-agent/key_files.h"

#include "absl/strings/str_cat.h"
#include "common/host_names.h"

namespace keyfleet::agent {

absl::StatusOr<v1::KeyFilesMode> ParseKeyFilesMode(absl::string_view text) {
  if (text == "home") return v1::KEY_FILES_MODE_HOME;
  if (text == "central") return v1::KEY_FILES_MODE_CENTRAL;
  if (text == "both") return v1::KEY_FILES_MODE_BOTH;
  return absl::InvalidArgumentError(
      absl::StrCat("key_files must be home (~/.ssh/authorized_keys), central (", kCentralKeysDir,
                   "/USER, root-owned) or both, not \"", PrintableName(text), "\""));
}

const char* KeyFilesModeName(v1::KeyFilesMode mode) {
  switch (mode) {
    case v1::KEY_FILES_MODE_CENTRAL:
      return "central";
    case v1::KEY_FILES_MODE_BOTH:
      return "both";
    default:
      return "home";
  }
}

std::string CentralKeyFilePath(const std::string& account) {
  return absl::StrCat(kCentralKeysDir, "/", account);
}

}  // namespace keyfleet::agent
