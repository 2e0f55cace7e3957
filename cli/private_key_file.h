// The private key `key generate` and `key rotate --generate` receive, written the way ssh-keygen
// leaves it: FILE (0600, with the passphrase when one is given) and FILE.pub (0644). The files
// are created before the controller is asked, so a key is never made that cannot be saved.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_key_generation.h"

namespace keyfleet::cli {

// A passphrase file holds one line (a trailing newline is dropped), at least kMinPassphraseBytes.
inline constexpr size_t kMinPassphraseBytes = 5;  // ssh-keygen refuses shorter ones
inline constexpr size_t kMaxPassphraseBytes = 1024;
absl::StatusOr<SecretBytes> ReadPassphraseFile(const std::string& path);

class PrivateKeyFiles {
 public:
  // Creates FILE and FILE.pub, empty: refuses when either exists (never overwrites a key).
  static absl::StatusOr<PrivateKeyFiles> Create(const std::string& path);
  PrivateKeyFiles(PrivateKeyFiles&& other) noexcept;
  PrivateKeyFiles& operator=(PrivateKeyFiles&&) = delete;
  // Removes both files unless Commit succeeded.
  ~PrivateKeyFiles();

  // Writes the key (`openssh_pem` unencrypted as received; re-encrypted with `passphrase`
  // when given) and the public line, fsyncs both and their directory.
  absl::Status Commit(absl::string_view openssh_pem, const std::optional<SecretBytes>& passphrase,
                      const std::string& public_line);

 private:
  PrivateKeyFiles(std::string path, int key_fd, int pub_fd)
      : path_(std::move(path)), key_fd_(key_fd), pub_fd_(pub_fd) {}

  std::string path_;
  int key_fd_ = -1;
  int pub_fd_ = -1;
  bool committed_ = false;
};

}  // namespace keyfleet::cli
