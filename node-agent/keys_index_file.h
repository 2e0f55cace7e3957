// The keys index on disk (keys_index.h has the format): one file per account, named after it,
// in the agent's keys_index_dir (default /var/lib/keyfleet/keys-index). Files root-owned 0644
// in root-owned 0755 directories: sshd may run the command as an unprivileged
// AuthorizedKeysCommandUser (nobody), and a line in the index is no more secret than in a
// central key file, which sshd must read as the account itself. Written by the agent at each
// apply, only when the account's lines changed; read by `authorized-keys-command --fingerprint`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node-agent/keys_index.h"
#include "node-agent/posix/root_key_dir.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {

inline constexpr char kDefaultKeysIndexDir[] = "/var/lib/keyfleet/keys-index";
inline constexpr mode_t kKeysIndexFileMode = 0644;

// An index file read through pread on a descriptor the caller checked.
class KeysIndexFd : public KeysIndexSource {
 public:
  KeysIndexFd(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const override { return size_; }
  bool ReadAt(uint64_t offset, size_t length, std::string* out) const override;

 private:
  int fd_;
  uint64_t size_;
};

// Makes `account`'s index in `dir` hold `lines`, unless its header already says it does and
// the file is a root-owned regular file of mode kKeysIndexFileMode with one link. Sets
// `*written` when it wrote. INVALID_ARGUMENT for lines BuildKeysIndex refuses.
absl::Status UpdateKeysIndexFile(const RootKeyDir& dir, const std::string& account,
                                 const std::vector<std::string>& lines, bool* written);

// The lines of `account` whose key has the SHA-256 `key_digest`, for sshd, from the index
// directory `index_dir` (a real absolute path). Before anything is read, every directory from
// / to `index_dir` must be root-owned and not writable by group or others, and the file a
// root-owned regular file, not writable by group or others, with one link: FAILED_PRECONDITION
// saying which is not. No file for the account: "" (it has no managed keys). NOT_FOUND when
// `index_dir` does not exist; INVALID_ARGUMENT when the file is malformed.
absl::StatusOr<std::string> LookupKeysIndexFile(const std::string& index_dir,
                                                const std::string& account,
                                                absl::string_view key_digest);

}  // namespace keyfleet::agent
