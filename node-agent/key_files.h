// Where the agent writes managed keys (its `key_files` setting) and the host paths that go with
// it: the account's own ~/.ssh/authorized_keys (home), root-owned files that users cannot edit,
// /etc/ssh/keyfleet/authorized_keys/USER (central), or both. sshd reads whichever its
// AuthorizedKeysFile names.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::agent {

// The central key files' directory, as seen from the agent's root. Fixed rather than a setting:
// sshd_config names it, and every component must pass sshd's StrictModes (root-owned, not
// group/world-writable), which /etc/ssh gives.
inline constexpr char kCentralKeysDir[] = "/etc/ssh/keyfleet/authorized_keys";
// How many leading components of kCentralKeysDir are the system's (etc, ssh): the agent checks
// them but never creates or changes them. The rest (keyfleet, authorized_keys) are its own.
inline constexpr size_t kCentralKeysSystemComponents = 2;
// sshd's AuthorizedKeysFile for each kind of file.
inline constexpr char kCentralAuthorizedKeysFile[] = "/etc/ssh/keyfleet/authorized_keys/%u";
inline constexpr char kHomeAuthorizedKeysFile[] = ".ssh/authorized_keys";

// "home", "central" or "both"; INVALID_ARGUMENT naming the allowed values otherwise.
absl::StatusOr<v1::KeyFilesMode> ParseKeyFilesMode(absl::string_view text);
// "home", "central" or "both" (UNSPECIFIED is home: agents before the setting wrote home files).
const char* KeyFilesModeName(v1::KeyFilesMode mode);

inline bool WritesHomeFiles(v1::KeyFilesMode mode) {
  return mode != v1::KEY_FILES_MODE_CENTRAL;
}
inline bool WritesCentralFiles(v1::KeyFilesMode mode) {
  return mode == v1::KEY_FILES_MODE_CENTRAL || mode == v1::KEY_FILES_MODE_BOTH;
}

// The central file of `account`, as seen from the host (for messages and reports).
std::string CentralKeyFilePath(const std::string& account);

}  // namespace keyfleet::agent
