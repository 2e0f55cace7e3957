// sshd's StrictModes against the agent's report, on this Debian 12 host: for each state of a
// real account's home, `keyfleet-agent apply` (root "/") writes the account's key and reports
// DRIFT_KIND_SSHD_WILL_REFUSE exactly when the real sshd refuses the key. Debian's OpenSSH
// (user-group-modes.patch) accepts a group-writable home whose group holds only the account,
// so the cases differ by who else is in the home's group. Label: sshd. The accounts, the group
// and sshd are created and removed by the test.
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A local group for one test, removed (with its member list) when the test ends.
class ScopedGroup {
 public:
  explicit ScopedGroup(const std::string& name) : name_(name) {
    CommandResult r = RunCommand("groupadd " + name_ + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
  ~ScopedGroup() { RunCommand("groupdel " + name_ + " 2>&1"); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

void MustRun(const std::string& command) {
  CommandResult r = RunCommand(command + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << command << ": " << r.out;
}

class StrictModesSshdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in("/etc/os-release");
    std::stringstream os;
    os << in.rdbuf();
    ASSERT_THAT(os.str(), HasSubstr("ID=debian"))
        << "these cases are Debian's OpenSSH rule (user-group-modes.patch)";
    key_ = sshd_.NewKey("user-key");
  }

  // Applies the account's key through `keyfleet-agent apply`; the SSHD_WILL_REFUSE drift
  // details it reports.
  std::vector<std::string> ApplyAndCollectRefusals(
      const std::string& kind = "DRIFT_KIND_SSHD_WILL_REFUSE") {
    const std::string desired = sshd_.dir() + "/desired.json";
    std::ofstream(desired) << R"({"generation": "1", "accounts": [{"account": ")" << sshd_.user()
                           << R"(", "keys": [")" << key_ << R"("]}]})";
    CommandResult applied = RunCommand(std::string(KEYFLEET_AGENT) + " apply --desired " + desired +
                                       " --root / 2>" + sshd_.dir() + "/apply.err");
    EXPECT_EQ(applied.exit_code, 0) << applied.out;
    nlohmann::json report = nlohmann::json::parse(applied.out, nullptr, false);
    EXPECT_TRUE(report.is_object()) << applied.out;
    std::vector<std::string> refusals;
    if (!report.is_object()) return refusals;
    for (const nlohmann::json& d : report["drift"]) {
      if (d.value("kind", "") == kind) {
        refusals.push_back(d.value("detail", ""));
      }
    }
    return refusals;
  }

  void SetHome(const std::string& owner, const std::string& group, mode_t mode) {
    MustRun("chown " + owner + ":" + group + " " + sshd_.home());
    ASSERT_EQ(chmod(sshd_.home().c_str(), mode), 0);
  }

  // Applies, then logs in: sshd and the agent must agree (refused <=> reported).
  void ExpectAccepted() {
    EXPECT_THAT(ApplyAndCollectRefusals(), ::testing::IsEmpty());
    std::string out;
    EXPECT_TRUE(sshd_.Login("user-key", "echo logged-in", &out)) << sshd_.Log();
    EXPECT_EQ(out, "logged-in\n");
    EXPECT_THAT(sshd_.Log(), Not(HasSubstr("bad ownership or modes")));
  }
  void ExpectRefused(const std::string& reported_reason,
                     const std::string& kind = "DRIFT_KIND_SSHD_WILL_REFUSE") {
    std::vector<std::string> refusals = ApplyAndCollectRefusals(kind);
    ASSERT_EQ(refusals.size(), 1u);
    EXPECT_THAT(refusals[0], HasSubstr(sshd_.home()));
    EXPECT_THAT(refusals[0], HasSubstr(reported_reason));
    EXPECT_FALSE(sshd_.Login("user-key", "true"));
    // sshd found the key file and refused it for the home's modes, not for lack of it.
    EXPECT_THAT(sshd_.Log(), HasSubstr("Authentication refused: bad ownership or modes for "
                                       "directory " +
                                       sshd_.home()));
  }
  std::string PrivateGroup() const {
    struct group* g = getgrnam(sshd_.user().c_str());
    return g == nullptr ? "" : g->gr_name;
  }

  SshdFixture sshd_;
  std::string key_;
};

TEST_F(StrictModesSshdTest, Home0755IsAccepted) {
  SetHome(sshd_.user(), PrivateGroup(), 0755);
  ExpectAccepted();
}

TEST_F(StrictModesSshdTest, Home0775WithThePrivateGroupIsAccepted) {
  ASSERT_EQ(PrivateGroup(), sshd_.user()) << "useradd made a user private group";
  SetHome(sshd_.user(), PrivateGroup(), 0775);
  ExpectAccepted();
}

TEST_F(StrictModesSshdTest, Home0775WithThePrivateGroupListingItsAccountIsAccepted) {
  MustRun("gpasswd -a " + sshd_.user() + " " + PrivateGroup());
  SetHome(sshd_.user(), PrivateGroup(), 0775);
  ExpectAccepted();
}

TEST_F(StrictModesSshdTest, RootOwnedHome0775WithThePrivateGroupIsAccepted) {
  // Debian compares primary members with the account, and listed members with the owner.
  SetHome("root", PrivateGroup(), 0775);
  ExpectAccepted();
}

TEST_F(StrictModesSshdTest, Home0775WithASharedGroupIsRefusedAndReported) {
  ScopedGroup shared("kf-shared-" + std::to_string(getpid()));
  const std::string other = sshd_.AddAccount();
  MustRun("gpasswd -a " + sshd_.user() + " " + shared.name());
  MustRun("gpasswd -a " + other + " " + shared.name());
  SetHome(sshd_.user(), shared.name(), 0775);
  ExpectRefused("lists the members " + sshd_.user() + ", " + other);
}

TEST_F(StrictModesSshdTest, Home0775WithAGroupListingOnlyAnotherAccountIsRefusedAndReported) {
  ScopedGroup shared("kf-shared-" + std::to_string(getpid()));
  const std::string other = sshd_.AddAccount();
  MustRun("gpasswd -a " + other + " " + shared.name());
  SetHome(sshd_.user(), shared.name(), 0775);
  ExpectRefused("lists the members " + other);
}

TEST_F(StrictModesSshdTest, Home0775WithAnotherAccountsPrivateGroupIsRefusedAndReported) {
  const std::string other = sshd_.AddAccount();
  SetHome(sshd_.user(), other, 0775);
  ExpectRefused("is also the primary group of " + other);
}

TEST_F(StrictModesSshdTest, Home0775WithAGroupWithoutMembersIsRefusedAndReported) {
  ScopedGroup empty("kf-empty-" + std::to_string(getpid()));
  SetHome(sshd_.user(), empty.name(), 0775);
  ExpectRefused("has no members");
}

TEST_F(StrictModesSshdTest, Home0775WithAGidNotInTheGroupFileIsRefusedAndReported) {
  const gid_t unknown = 64999;
  ASSERT_EQ(getgrgid(unknown), nullptr) << "gid " << unknown << " exists here";
  SetHome(sshd_.user(), std::to_string(unknown), 0775);
  // sshd refuses here; the agent, which cannot see groups only NSS knows, reports that sshd
  // may refuse (access then says it cannot tell rather than a sure "no").
  ExpectRefused("its group (gid 64999) is not in /etc/group", "DRIFT_KIND_SSHD_MAY_REFUSE");
}

TEST_F(StrictModesSshdTest, Home0777IsRefusedAndReported) {
  SetHome(sshd_.user(), PrivateGroup(), 0777);
  ExpectRefused("run `chmod o-w " + sshd_.home() + "`");
}

TEST_F(StrictModesSshdTest, Home0757IsRefusedAndReported) {
  SetHome(sshd_.user(), PrivateGroup(), 0757);
  ExpectRefused("is world-writable (mode 757)");
}

}  // namespace
}  // namespace keyfleet::testing
