// The agent writes a real account's authorized_keys (through `keyfleet-agent apply`, root "/"),
// and a real sshd decides: a managed key logs in, one past its expiry-time does not, and a key
// that is not granted does not. Label: sshd.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"

namespace keyfleet::testing {
namespace {

TEST(AgentSshd, ManagedKeysLogInAndExpiredOnesDoNot) {
  SshdFixture sshd;
  const std::string valid = sshd.NewKey("valid");
  const std::string expired = sshd.NewKey("expired");
  sshd.NewKey("stranger");
  const std::string desired = sshd.dir() + "/desired.json";
  std::ofstream(desired) << R"({"generation": "1", "accounts": [{"account": ")" << sshd.user()
                         << R"(", "keys": [")"
                         << "expiry-time=\\\"209901010000Z\\\" " << valid << R"(", ")"
                         << "expiry-time=\\\"202001010000Z\\\" " << expired << R"("]}]})";
  CommandResult applied =
      RunCommand(std::string(KEYFLEET_AGENT) + " apply --desired " + desired + " --root / 2>&1");
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  std::string out;
  EXPECT_TRUE(sshd.Login("valid", "echo logged-in", &out)) << sshd.Log();
  EXPECT_EQ(out, "logged-in\n");
  EXPECT_FALSE(sshd.Login("expired", "true")) << "past its expiry-time";
  EXPECT_FALSE(sshd.Login("stranger", "true")) << "never granted";
  // sshd found the line and refused it because of its options (expiry-time), not for lack of it.
  EXPECT_THAT(sshd.Log(), ::testing::HasSubstr("Refused by key options"));
}

}  // namespace
}  // namespace keyfleet::testing
