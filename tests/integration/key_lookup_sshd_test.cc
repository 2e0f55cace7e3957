// Key files users cannot edit and the indexed AuthorizedKeysCommand, decided by a real sshd on
// loopback (label sshd): in central mode a granted key logs in and a key the user added to
// their own ~/.ssh/authorized_keys does not; `authorized-keys-command %u --fingerprint %f`
// lets in the granted key among many and no other; `sshd-config --check` reads sshd -T.
//
// The agent's root is a directory under /run, not /tmp: sshd walks every directory above a
// key file outside the home (and above the index, the command does), and refuses a
// world-writable one such as /tmp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/krl.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;

// A host root R for the agent: R/etc/passwd with the fixture's account, R/etc/ssh and
// R/var/lib/keyfleet as on a host, all root-owned 0755.
class AgentRoot {
 public:
  AgentRoot() : dir_("keyfleet-root", "/run") {
    chmod(path().c_str(), 0755);
    for (const char* d : {"etc", "etc/ssh", "var", "var/lib", "var/lib/keyfleet"}) {
      mkdir((path() + "/" + d).c_str(), 0755);
    }
  }
  std::string path() const { return dir_.path().string(); }
  void AddAccount(const std::string& name) {
    CommandResult entry = RunCommand("getent passwd " + name);
    std::ofstream(path() + "/etc/passwd", std::ios::app) << entry.out;
  }
  // `keyfleet-agent apply` of `keys` for `account`, central mode, with the index.
  CommandResult Apply(const std::string& account, const std::vector<std::string>& keys) {
    std::string json =
        R"({"generation": "1", "accounts": [{"account": ")" + account + R"(", "keys": [)";
    for (size_t i = 0; i < keys.size(); ++i) json += (i ? ",\"" : "\"") + keys[i] + "\"";
    json += "]}]}";
    std::ofstream(path() + "/desired.json") << json;
    return RunCommand(std::string(KEYFLEET_AGENT) + " apply --desired " + path() +
                      "/desired.json --root " + path() +
                      " --key-files central --keys-index-dir /var/lib/keyfleet/keys-index 2>&1");
  }
  std::string IndexDir() const { return path() + "/var/lib/keyfleet/keys-index"; }
  // The agent binary copied to R/bin (0755): sshd runs an AuthorizedKeysCommand only from a path
  // whose every directory is root's and not writable by others, which a build under /tmp is not.
  std::string InstalledAgent() const {
    const std::string bin = path() + "/bin";
    mkdir(bin.c_str(), 0755);
    EXPECT_EQ(RunCommand("install -m 0755 " + std::string(KEYFLEET_AGENT) + " " + bin).exit_code,
              0);
    return bin + "/keyfleet-agent";
  }

 private:
  ScopedTempDir dir_;
};

TEST(CentralKeyFilesSshd, AGrantedKeyLogsInAndAKeyInTheHomeFileDoesNot) {
  AgentRoot root;
  SshdFixture sshd(root.path() + "/etc/ssh/keyfleet/authorized_keys/%u");
  root.AddAccount(sshd.user());
  const std::string granted = sshd.NewKey("granted");
  const std::string own = sshd.NewKey("own");
  CommandResult applied = root.Apply(sshd.user(), {granted});
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  // The user adds their own key to their own file, as they may.
  ASSERT_TRUE(sshd.AddAuthorizedKeys(sshd.user(), {own}));
  std::string out;
  EXPECT_TRUE(sshd.Login("granted", "echo in", &out)) << sshd.Log();
  EXPECT_EQ(out, "in\n");
  EXPECT_FALSE(sshd.Login("own", "true")) << "sshd reads only the root-owned central file";
  // The user cannot edit the central file.
  CommandResult edit = RunCommand("su -s /bin/sh " + sshd.user() + " -c 'echo x >> " + root.path() +
                                  "/etc/ssh/keyfleet/authorized_keys/" + sshd.user() + "' 2>&1");
  EXPECT_NE(edit.exit_code, 0) << edit.out;
}

TEST(IndexedCommandSshd, TheGrantedKeyAmongManyLogsInAndAnotherDoesNot) {
  AgentRoot root;
  const std::string index_dir = root.IndexDir();
  // AuthorizedKeysFile none: sshd asks only the command.
  SshdFixture sshd(
      "none", {"AuthorizedKeysCommand " + root.InstalledAgent() +
                   " authorized-keys-command --index-dir " + index_dir + " %u --fingerprint %f",
               "AuthorizedKeysCommandUser root"});
  root.AddAccount(sshd.user());
  const std::string granted = sshd.NewKey("granted");
  sshd.NewKey("stranger");
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back(SyntheticEd25519Line(i, "filler"));
  keys.push_back(granted);
  CommandResult applied = root.Apply(sshd.user(), keys);
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  std::string out;
  EXPECT_TRUE(sshd.Login("granted", "echo in", &out)) << sshd.Log();
  EXPECT_EQ(out, "in\n");
  EXPECT_FALSE(sshd.Login("stranger", "true"));
  // The command alone: only the offered key's line.
  CommandResult one =
      RunCommand(std::string(KEYFLEET_AGENT) + " authorized-keys-command " + "--index-dir " +
                 index_dir + " " + sshd.user() + " --fingerprint " + sshd.Fingerprint("granted"));
  EXPECT_EQ(one.exit_code, 0);
  EXPECT_EQ(one.out, granted + "\n");
  // A tampered index is refused: nothing printed, a reason on stderr, no login.
  const std::string file = index_dir + "/" + sshd.user();
  ASSERT_EQ(chmod(file.c_str(), 0666), 0);
  CommandResult refused = RunCommand(std::string(KEYFLEET_AGENT) + " authorized-keys-command " +
                                     "--index-dir " + index_dir + " " + sshd.user() +
                                     " --fingerprint " + sshd.Fingerprint("granted") + " 2>&1");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.out, HasSubstr("is not trusted"));
  EXPECT_THAT(refused.out, ::testing::Not(HasSubstr("ssh-ed25519")));
  EXPECT_FALSE(sshd.Login("granted", "true")) << "fail closed";
}

TEST(SshdConfigCheckSshd, ChecksTheRunningConfiguration) {
  AgentRoot root;
  const std::string krl = root.path() + "/etc/ssh/keyfleet/revoked.krl";
  SshdFixture sshd(root.path() + "/etc/ssh/keyfleet/authorized_keys/%u", {"RevokedKeys " + krl});
  const std::string config = root.path() + "/agent.yaml";
  std::ofstream(config) << "root: " << root.path() << "\nkey_files: central\n";
  const std::string check = std::string(KEYFLEET_AGENT) + " sshd-config --check --config " +
                            config + " --sshd-config " + sshd.dir() + "/sshd_config 2>&1";
  CommandResult missing = RunCommand(check);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.out, HasSubstr("problem: RevokedKeys " + krl + " cannot be opened"));
  EXPECT_THAT(missing.out, HasSubstr("ok: sshd's RevokedKeys is the agent's KRL"));
  mkdir((root.path() + "/etc/ssh/keyfleet").c_str(), 0755);
  std::ofstream(krl, std::ios::binary) << *BuildKrl(Krl{});
  chmod(krl.c_str(), 0644);
  CommandResult good = RunCommand(check);
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_THAT(good.out, HasSubstr("ok: sshd's AuthorizedKeysFile"));
  std::ofstream(config) << "root: " << root.path() << "\nkey_files: home\n";
  CommandResult home = RunCommand(check);
  EXPECT_NE(home.exit_code, 0);
  EXPECT_THAT(home.out, HasSubstr("does not read .ssh/authorized_keys"));
}

}  // namespace
}  // namespace keyfleet::testing
