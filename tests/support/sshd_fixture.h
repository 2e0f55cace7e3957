// A real sshd on a loopback port and a real local account, for end-to-end login tests (label
// sshd). Both are created for the test and removed afterwards; the machine is left as found.
// Needs root; failures to set up abort with the reason (never a quiet skip).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::testing {

class SshdFixture {
 public:
  // Creates the account (home inside the temp dir) and starts sshd reading the key files
  // `authorized_keys_files` (sshd's AuthorizedKeysFile; Debian's default also reads
  // .ssh/authorized_keys2), plus the lines `extra_config` (e.g. RevokedKeys), which may name
  // paths under DIR as "{dir}" (the fixture's directory is made by the constructor).
  explicit SshdFixture(const std::string& authorized_keys_files = ".ssh/authorized_keys",
                       const std::vector<std::string>& extra_config = {});
  ~SshdFixture();  // stops sshd, deletes the account

  const std::string& user() const { return user_; }
  uid_t uid() const { return uid_; }
  const std::string& home() const { return home_; }
  // Another real account ("<user>-N", home inside the temp dir) sshd also lets in; removed with
  // the fixture.
  std::string AddAccount();
  const std::string& dir() const { return dir_path_; }
  int port() const { return port_; }

  // Makes an ed25519 key pair DIR/NAME (+ .pub) and returns the public line.
  std::string NewKey(const std::string& name);
  // ssh -i DIR/KEY user@127.0.0.1 -p PORT COMMAND; true when it exited 0. `out` gets stdout.
  bool Login(const std::string& key, const std::string& command, std::string* out = nullptr);
  // The same as `account`.
  bool LoginAs(const std::string& account, const std::string& key, const std::string& command,
               std::string* out = nullptr);
  std::string Log() const;  // sshd's log so far, for failure messages

  // "SHA256:…" of DIR/KEY.pub as `ssh-keygen -lf` prints it; when ssh-keygen fails, tears the
  // fixture down and aborts with the reason.
  std::string Fingerprint(const std::string& key);
  // `ssh … sleep SECONDS` as `account` with key DIR/KEY, as a child process (SpawnProcess): a
  // long-running session, told apart from others in the process table by its length. Its output
  // goes to DIR/session-KEY.log. Returns the pid (reap it, e.g. with StopProcess).
  pid_t OpenSession(const std::string& account, const std::string& key, int seconds) const;

  // What AddAuthorizedKeys does with what the file already holds.
  enum class KeyFileEdit { kReplace, kAppend };
  // Writes `lines` to `account`'s own ~/.ssh/FILE as the account editing it by hand would:
  // ~/.ssh is made 0700 and owned by the account when missing (an existing one is left as it is),
  // and the file is owned by the account and 0600. Each line is written ending in one "\n" (added
  // when it lacks one). False, with the reason on stderr, when a step fails.
  bool AddAuthorizedKeys(const std::string& account, const std::vector<std::string>& lines,
                         KeyFileEdit edit = KeyFileEdit::kReplace,
                         const std::string& file = "authorized_keys") const;

 private:
  void Teardown();  // stops sshd and deletes the account; safe to call twice

  ScopedTempDir dir_;
  std::string dir_path_;
  std::string user_;
  std::string home_;
  std::vector<std::string> extra_accounts_;
  uid_t uid_ = 0;
  int port_ = 0;
  pid_t sshd_ = -1;
};

}  // namespace keyfleet::testing
