// `keyfleet-agent sshd-config`: the lines it prints, the `sshd -T` parser (a table of good and
// bad outputs) and the checks of a running configuration against the agent's settings.
#include "node-agent/sshd_config_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/krl.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(SshdConfigLines, FollowTheSettings) {
  AgentConfig config;
  EXPECT_EQ(RenderSshdConfigLines(config, {}),
            "# The fleet's revoked keys (kept by keyfleet-agent): refused wherever they appear.\n"
            "RevokedKeys /etc/ssh/keyfleet/revoked.krl\n"
            "# key_files: home: the users' own files.\n"
            "AuthorizedKeysFile .ssh/authorized_keys\n");
  config.key_files = v1::KEY_FILES_MODE_CENTRAL;
  config.revoked_keys_file = "";
  SshdConfigOptions options;
  options.command = true;
  const std::string central = RenderSshdConfigLines(config, options);
  EXPECT_THAT(central, Not(HasSubstr("RevokedKeys")));
  EXPECT_THAT(central, HasSubstr("\nAuthorizedKeysFile /etc/ssh/keyfleet/authorized_keys/%u\n"));
  EXPECT_THAT(central, HasSubstr("\nAuthorizedKeysCommand /usr/bin/keyfleet-agent "
                                 "authorized-keys-command --index-dir "
                                 "/var/lib/keyfleet/keys-index %u --fingerprint %f\n"));
  config.key_files = v1::KEY_FILES_MODE_BOTH;
  config.root = "/srv/host1";
  EXPECT_THAT(RenderSshdConfigLines(config, {}),
              HasSubstr("\nAuthorizedKeysFile /srv/host1/etc/ssh/keyfleet/authorized_keys/%u "
                        ".ssh/authorized_keys\n"));
}

TEST(SshdEffectiveConfig, ParsesSshdTOutput) {
  auto parsed = ParseSshdEffectiveConfig(
      "port 22\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"
      "hostkey /etc/ssh/a\nhostkey /etc/ssh/b\nrevokedkeys none\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->at("authorizedkeysfile"), ".ssh/authorized_keys .ssh/authorized_keys2");
  EXPECT_EQ(parsed->at("hostkey"), "/etc/ssh/a\n/etc/ssh/b");
  EXPECT_EQ(parsed->at("revokedkeys"), "none");
}

TEST(SshdEffectiveConfig, RefusesWhatSshdTNeverPrints) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "printed nothing"},
      {"\n", "printed nothing"},
      {"Port 22\n", "line 1"},
      {"port\n", "line 1"},
      {"port \n", "line 1"},
      {"port 22\n\nx y\n", "line 2"},
      {"sshd: no hostkeys available -- exiting.\n", "line 1"},
  };
  for (const auto& [text, reason] : bad) {
    auto parsed = ParseSshdEffectiveConfig(text);
    EXPECT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(reason)) << text;
  }
}

class SshdChecks : public ::testing::Test {
 protected:
  SshdChecks() : dir_("keyfleet-sshd-check") {
    config_.root = dir_.path().string();
    config_.revoked_keys_file = "/revoked.krl";
    krl_ = config_.root + "/revoked.krl";
  }
  void WriteKrl(const std::string& bytes, mode_t mode) {
    std::ofstream(krl_, std::ios::binary | std::ios::trunc) << bytes;
    chmod(krl_.c_str(), mode);
  }
  std::vector<SshdCheck> Check(const std::string& revoked, const std::string& files) {
    return CheckSshdConfig({{"revokedkeys", revoked}, {"authorizedkeysfile", files}}, config_);
  }
  static int Problems(const std::vector<SshdCheck>& checks) {
    int n = 0;
    for (const SshdCheck& c : checks) n += !c.ok;
    return n;
  }
  static std::string All(const std::vector<SshdCheck>& checks) {
    std::string out;
    for (const SshdCheck& c : checks) out += (c.ok ? "ok: " : "problem: ") + c.message + "\n";
    return out;
  }
  ::keyfleet::testing::ScopedTempDir dir_;
  AgentConfig config_;
  std::string krl_;
};

TEST_F(SshdChecks, AllGoodInEachMode) {
  WriteKrl(*BuildKrl(Krl{}), 0644);
  const std::string central = config_.root + "/etc/ssh/keyfleet/authorized_keys/%u";
  EXPECT_EQ(Problems(Check(krl_, ".ssh/authorized_keys .ssh/authorized_keys2")), 0);
  config_.key_files = v1::KEY_FILES_MODE_CENTRAL;
  auto checks = Check(krl_, central);
  EXPECT_EQ(Problems(checks), 0) << All(checks);
  config_.key_files = v1::KEY_FILES_MODE_BOTH;
  EXPECT_EQ(Problems(Check(krl_, central + " %h/.ssh/authorized_keys")), 0);
}

TEST_F(SshdChecks, EachProblemSaysWhatToChange) {
  WriteKrl(*BuildKrl(Krl{}), 0644);
  EXPECT_THAT(All(Check("none", ".ssh/authorized_keys")),
              HasSubstr("problem: sshd's RevokedKeys is none, not the agent's KRL: add "
                        "`RevokedKeys " +
                        krl_ + "`"));
  config_.key_files = v1::KEY_FILES_MODE_CENTRAL;
  EXPECT_THAT(All(Check(krl_, ".ssh/authorized_keys")),
              HasSubstr("does not read " + config_.root + "/etc/ssh/keyfleet/authorized_keys/%u"));
  EXPECT_THAT(
      All(Check(krl_, config_.root + "/etc/ssh/keyfleet/authorized_keys/%u .ssh/authorized_keys")),
      HasSubstr("also reads the users' own files, so a key a user adds logs in"));
  config_.key_files = v1::KEY_FILES_MODE_BOTH;
  EXPECT_EQ(Problems(Check(krl_, ".ssh/authorized_keys")), 1);
}

TEST_F(SshdChecks, TheKrlMustBeThereRootsAndAKrl) {
  EXPECT_THAT(All(Check(krl_, ".ssh/authorized_keys")), HasSubstr("cannot be opened"));
  WriteKrl("not a krl", 0644);
  EXPECT_THAT(All(Check(krl_, ".ssh/authorized_keys")), HasSubstr("is not a KRL"));
  WriteKrl(*BuildKrl(Krl{}), 0666);
  EXPECT_THAT(All(Check(krl_, ".ssh/authorized_keys")), HasSubstr("chmod 644"));
  WriteKrl(*BuildKrl(Krl{}), 0644);
  ASSERT_EQ(chown(krl_.c_str(), 2001, 2001), 0);
  EXPECT_THAT(All(Check(krl_, ".ssh/authorized_keys")), HasSubstr("owned by uid 2001"));
}

}  // namespace
}  // namespace keyfleet::agent
