#include "node-agent/tests/sandbox.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace keyfleet::agent::testing {

bool FileState::operator==(const FileState& o) const {
  return exists == o.exists && content == o.content && mode == o.mode && uid == o.uid &&
         gid == o.gid && inode == o.inode && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

FileState Snapshot(const std::string& path) {
  FileState s;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.inode = st.st_ino;
  s.mtime = st.st_mtim;
  if (S_ISREG(st.st_mode)) s.content = Read(path);
  return s;
}

Sandbox::Sandbox() : dir_("keyfleet-agent-sandbox") {
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "agent filesystem tests must run as root: they create files owned by other "
                 "users (run deploy/test.sh as root)\n");
    std::abort();
  }
  chmod(root().c_str(), 0755);
  Mkdir("etc", 0755, 0);
  Write("etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "alice:x:2001:2001::/home/alice:/bin/sh\n"
        "bob:x:2002:2002::/home/bob:/bin/sh\n",
        0644, 0);
  Write("etc/shadow", "root:secret:::::::\n", 0600, 0);
  Mkdir("root", 0700, 0);
  Mkdir("root/.ssh", 0700, 0);
  Write("root/.ssh/authorized_keys", "# root's own keys\n", 0600, 0);
  Mkdir("home", 0755, 0);
  Mkdir("home/alice", 0755, kAlice);
  Mkdir("home/bob", 0755, kBob);
  Mkdir("home/bob/.ssh", 0700, kBob);
  Write("home/bob/.ssh/authorized_keys", "# bob's keys\n", 0600, kBob);
}

void Sandbox::Write(const std::string& rel, const std::string& content, mode_t mode, uid_t uid) {
  const std::string path = Path(rel);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  if (chmod(path.c_str(), mode) != 0 || chown(path.c_str(), uid, uid) != 0) std::abort();
}

void Sandbox::Mkdir(const std::string& rel, mode_t mode, uid_t uid) {
  const std::string path = Path(rel);
  mkdir(path.c_str(), mode);
  if (chmod(path.c_str(), mode) != 0 || chown(path.c_str(), uid, uid) != 0) std::abort();
}

ApplyReport Sandbox::Apply(const v1::DesiredState& desired, AccountPolicy policy) const {
  ApplySettings settings;
  settings.root = root();
  settings.accounts = policy;
  PasswdFile passwd = *PasswdFile::Load(Path("etc/passwd"));
  return ApplyDesiredState(desired, settings, passwd);
}

v1::DesiredState Desired(uint64_t generation, const std::string& account,
                         const std::vector<std::string>& keys, bool exclusive) {
  v1::DesiredState d;
  d.set_generation(generation);
  v1::AccountKeys* a = d.add_accounts();
  a->set_account(account);
  for (const std::string& k : keys) a->add_keys(k);
  a->set_exclusive(exclusive);
  return d;
}

}  // namespace keyfleet::agent::testing
