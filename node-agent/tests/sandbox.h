// A sandbox root for agent tests: ROOT/etc/passwd with alice (2001) and bob (2002), their homes,
// and root-owned files an attacker would like the agent to touch. Needs root (it chowns); a test
// run without root fails with that reason, never skips.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "keyfleet/v1/agent.pb.h"
#include "node-agent/apply.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent::testing {

inline constexpr uid_t kAlice = 2001;
inline constexpr uid_t kBob = 2002;

// Everything that identifies a file's state: if this is equal, nothing touched it.
struct FileState {
  bool exists = false;
  std::string content;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  ino_t inode = 0;
  struct timespec mtime {};
  bool operator==(const FileState& o) const;
};
FileState Snapshot(const std::string& path);  // lstat, and content for regular files

class Sandbox {
 public:
  Sandbox();
  std::string root() const { return dir_.path().string(); }
  std::string Path(const std::string& rel) const { return root() + "/" + rel; }
  void Write(const std::string& rel, const std::string& content, mode_t mode, uid_t uid);
  void Mkdir(const std::string& rel, mode_t mode, uid_t uid);
  ApplyReport Apply(const v1::DesiredState& desired, AccountPolicy policy = {}) const;

 private:
  ::keyfleet::testing::ScopedTempDir dir_;
};

v1::DesiredState Desired(uint64_t generation, const std::string& account,
                         const std::vector<std::string>& keys, bool exclusive = false);
std::string Read(const std::string& path);

}  // namespace keyfleet::agent::testing
