// The private key `key generate` and `key rotate --generate` receive, written as ssh-keygen leaves
// it: FILE (0600, encrypted when a passphrase is given) and FILE.pub (0644), with the project's
// secret-file rules (common/tls/secure_file.h: no symlink anywhere on the path, a new file written
// in full and fsynced, never one that exists). Whatever can be checked is checked before the
// controller is asked, so a key is not made that cannot be saved.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_key_generation.h"

namespace keyfleet::cli {

// A passphrase file is a secret file (0600 or 0400) of one line (a trailing newline is dropped).
inline constexpr size_t kMinPassphraseBytes = 5;  // ssh-keygen refuses shorter ones
inline constexpr size_t kMaxPassphraseBytes = 1024;

class PrivateKeyOutput {
 public:
  // Reads the passphrase (when `passphrase_file` is not empty), and checks that neither FILE nor
  // FILE.pub exists, in a directory the secure writer accepts.
  static absl::StatusOr<PrivateKeyOutput> Prepare(const std::string& path,
                                                  const std::string& passphrase_file);

  bool encrypted() const { return passphrase_.has_value(); }

  // Writes FILE (`openssh_pem` as received, unencrypted; encrypted here with the passphrase when
  // there is one), then FILE.pub with `public_line`. ALREADY_EXISTS if either appeared meanwhile.
  absl::Status Save(absl::string_view openssh_pem, const std::string& public_line) const;

 private:
  PrivateKeyOutput(std::string dir, std::string name, std::optional<SecretBytes> passphrase)
      : dir_(std::move(dir)), name_(std::move(name)), passphrase_(std::move(passphrase)) {}

  std::string dir_, name_;
  std::optional<SecretBytes> passphrase_;
};

}  // namespace keyfleet::cli
