// Every online `keyfleet` command against a real controller (its binary, on a loopback port)
// and a real PostgreSQL: table and JSON output, and exit codes. Label: postgres.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliOnlineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new TempPostgres();
    dir_ = new ScopedTempDir("keyfleet-cli");
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    controller_ = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--db", pg_->Url(pg_->CreateDatabase()), "--listen", address_,
         "--ca-dir", CaDir(), "--tls-name", "127.0.0.1", "--log-level", "warn"},
        dir_->path().string() + "/controller.log");
    for (int i = 0; i < 100; ++i) {
      if (RunCommand(Cli("principal list") + " >/dev/null 2>&1").exit_code == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the controller did not come up";
  }
  static void TearDownTestSuite() {
    StopProcess(controller_);
    delete dir_;
    delete pg_;
  }

  static std::string CaDir() { return dir_->path().string() + "/ca"; }
  static std::string Cli(const std::string& args) {
    return std::string(KEYFLEET_CLI) + " --controller " + address_ + " --ca " + CaDir() +
           "/ca.crt " + args;
  }
  static CommandResult Run(const std::string& args) { return RunCommand(Cli(args) + " 2>&1"); }
  static nlohmann::json Json(const std::string& args) {
    CommandResult r = RunCommand(Cli("-o json " + args) + " 2>/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  static std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_->path().string() + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  static TempPostgres* pg_;
  static ScopedTempDir* dir_;
  static std::string address_;
  static pid_t controller_;
};

TempPostgres* CliOnlineTest::pg_ = nullptr;
ScopedTempDir* CliOnlineTest::dir_ = nullptr;
std::string CliOnlineTest::address_;
pid_t CliOnlineTest::controller_ = -1;

TEST_F(CliOnlineTest, PrincipalsKeysGrantsPolicyAuditEndToEnd) {
  // principal add / list / disable
  CommandResult added = Run("principal add dana --email dana@example.com");
  EXPECT_EQ(added.exit_code, 0);
  EXPECT_THAT(added.out, HasSubstr("principal dana added (change "));
  EXPECT_EQ(Run("principal add dana").exit_code, 1);
  EXPECT_THAT(Run("principal add dana").out, HasSubstr("already exists"));
  EXPECT_EQ(Run("principal add 'Bad Name'").exit_code, 1);
  EXPECT_EQ(Run("principal add").exit_code, 2);
  EXPECT_EQ(Run("principal add x --kind robot").exit_code, 2);
  EXPECT_EQ(Run("principal add ci --kind service").exit_code, 0);
  EXPECT_THAT(Run("principal list").out, HasSubstr("dana  person   dana@example.com"));
  nlohmann::json principals = Json("principal list");
  ASSERT_TRUE(principals.contains("principals"));
  EXPECT_GE(principals["principals"].size(), 2u);

  // key add / list / show / label
  const std::string keys =
      WriteFile("dana.pub", "# dana's keys\n" + SyntheticEd25519Line(101, "d1") + "\n\n" +
                                SyntheticEd25519Line(102, "d2") + "\n");
  nlohmann::json key_add = Json("key add dana " + keys + " --label laptop");
  ASSERT_EQ(key_add["keys"].size(), 2u);
  const std::string fp = key_add["keys"][0]["fingerprint"];  // the first line's key
  const std::string first_key = WriteFile("first.pub", SyntheticEd25519Line(101, "d1") + "\n");
  EXPECT_EQ(Run("key add ci " + keys).exit_code, 1) << "one key, one owner";
  EXPECT_THAT(Run("key add ci " + keys).out, HasSubstr("already belongs to principal \"dana\""));
  EXPECT_EQ(Run("key add dana /nonexistent.pub").exit_code, 2);
  const std::string dsa = WriteFile("dsa.pub", Vector("dsa").line + "\n");
  EXPECT_THAT(Run("key add dana " + dsa).out, HasSubstr("rule: no-dsa"));
  nlohmann::json listed = Json("key list --principal dana");
  ASSERT_EQ(listed["keys"].size(), 2u);
  EXPECT_EQ(listed["keys"][0]["state"], "KEY_STATE_ACTIVE");
  EXPECT_THAT(Run("key add ci " + WriteFile("ci.pub", SyntheticEd25519Line(103, "c") + "\n")).out,
              HasSubstr("1 key(s) added to ci"));
  EXPECT_THAT(Run("key list").out, HasSubstr("laptop"));
  EXPECT_EQ(Json("key list --expiring-within 30d")["keys"].size(), 0u);
  EXPECT_EQ(Json("key list --expiring-within 400d")["keys"].size(), 3u);
  EXPECT_EQ(Run("key list --expiring-within soon").exit_code, 2);
  EXPECT_EQ(Run("key list --state broken").exit_code, 2);
  EXPECT_THAT(Run("key show " + fp).out, HasSubstr("principal"));
  EXPECT_EQ(Json("key show " + fp)["principal"], "dana");
  EXPECT_EQ(Run("key show SHA256:nope").exit_code, 1);
  EXPECT_EQ(Run("key label " + fp + " desktop").exit_code, 0);
  EXPECT_EQ(Json("key show " + fp)["label"], "desktop");

  // grant add / list / remove
  CommandResult grant =
      Run("grant add dana --hosts env=prod,web-* --account deploy "
          "--options 'restrict,command=\"uptime\"' --expires 30d");
  EXPECT_EQ(grant.exit_code, 0) << grant.out;
  EXPECT_THAT(grant.out, HasSubstr("grant 1 added: dana -> deploy@env=prod,web-*"));
  EXPECT_EQ(Run("grant add dana --hosts '*' --account root").exit_code, 1);
  EXPECT_THAT(Run("grant add dana --hosts '*' --account root").out, HasSubstr("--allow-root"));
  EXPECT_EQ(Run("grant add dana --hosts '*' --account ../x").exit_code, 1);
  EXPECT_EQ(Run("grant add dana --hosts '*' --account x --options nonsense").exit_code, 1);
  EXPECT_EQ(Run("grant add dana --hosts '*' --account x --expires someday").exit_code, 2);
  EXPECT_EQ(Run("grant add dana --account x").exit_code, 2);
  EXPECT_EQ(Run("grant add " + fp + " --hosts '*' --account ops").exit_code, 0);
  nlohmann::json grants = Json("grant list --principal dana");
  EXPECT_EQ(grants["grants"].size(), 2u);
  EXPECT_THAT(Run("grant list").out, HasSubstr("restrict,command=\"uptime\""));
  EXPECT_EQ(Run("grant remove 2").exit_code, 0);
  EXPECT_EQ(Run("grant remove 2").exit_code, 1);
  EXPECT_EQ(Run("grant remove two").exit_code, 1);

  // policy show / set
  EXPECT_THAT(Run("policy show").out, HasSubstr("max key age        365d"));
  EXPECT_EQ(Run("policy set --warn 45d --unmanaged report").exit_code, 0);
  nlohmann::json policy = Json("policy show");
  EXPECT_EQ(policy["warning_window"], "3888000s");
  EXPECT_EQ(policy["unmanaged_keys"], "UNMANAGED_KEYS_REPORT");
  EXPECT_EQ(Run("policy set --min-rsa-bits 1024").exit_code, 1);
  EXPECT_EQ(Run("policy set --max-age forever").exit_code, 2);

  // principal disable, revoke
  EXPECT_EQ(Run("principal disable ci").exit_code, 0);
  EXPECT_EQ(Run("principal disable ci").exit_code, 1);
  EXPECT_EQ(Run("key revoke " + fp).exit_code, 2) << "--reason is required";
  CommandResult revoked = Run("key revoke " + fp + " --reason 'lost laptop'");
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out;
  EXPECT_EQ(Json("key show " + fp)["state"], "KEY_STATE_REVOKED");
  EXPECT_EQ(Run("key remove " + fp).exit_code, 0);
  EXPECT_THAT(Run("key add dana " + first_key).out, HasSubstr("lost laptop"));

  // rollout (no hosts: nothing targeted, converged at once) and revoke --wait
  nlohmann::json remaining = Json("key list --principal dana");
  ASSERT_EQ(remaining["keys"].size(), 1u);
  const std::string fp2 = remaining["keys"][0]["fingerprint"];
  CommandResult waited = Run("key revoke " + fp2 + " --reason test --wait --timeout 5s");
  EXPECT_EQ(waited.exit_code, 0) << waited.out;
  EXPECT_THAT(waited.out, HasSubstr("converged 0/0 hosts"));
  EXPECT_THAT(Run("rollout status").out, HasSubstr("converged 0/0 hosts"));
  EXPECT_EQ(Json("rollout status")["targeted_hosts"], 0);
  EXPECT_EQ(Run("rollout status 999999").exit_code, 1);

  // audit and verification
  CommandResult audit = Run("audit");
  EXPECT_EQ(audit.exit_code, 0);
  EXPECT_THAT(audit.out, HasSubstr("key.revoke"));
  EXPECT_THAT(audit.out, HasSubstr("policy.set"));
  EXPECT_GE(Json("audit --since 1h")["events"].size(), 10u);
  EXPECT_EQ(Json("audit --since 2099-01-01")["events"].size(), 0u);
  EXPECT_EQ(Run("audit --since yesterday").exit_code, 2);
  EXPECT_THAT(Run("audit verify").out, HasSubstr("audit chain intact"));
  EXPECT_TRUE(Json("audit verify")["ok"].get<bool>());

  // hosts, access, reports (no agent has connected)
  EXPECT_THAT(Run("host list").out, HasSubstr("HOST"));
  EXPECT_EQ(Json("host list")["hosts"].size(), 0u);
  EXPECT_EQ(Run("host show web-1").exit_code, 1);
  EXPECT_EQ(Run("access web-1").exit_code, 1);
  EXPECT_THAT(Run("access web-1").out, HasSubstr("has connected"));
  CommandResult compliance = Run("report compliance");
  EXPECT_THAT(compliance.out, HasSubstr("hosts not converged: 0"));
  EXPECT_THAT(Run("report drift").out, HasSubstr("DRIFT"));
}

TEST_F(CliOnlineTest, AnUnreachableControllerIsExitCodeThree) {
  const std::string ca = " --ca " + CaDir() + "/ca.crt ";
  CommandResult r = RunCommand(std::string(KEYFLEET_CLI) + " --controller 127.0.0.1:1" + ca +
                               "principal list 2>&1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("cannot reach the controller at 127.0.0.1:1"));
  CommandResult env = RunCommand("KEYFLEET_CONTROLLER=127.0.0.1:1 KEYFLEET_CA=" + CaDir() +
                                 "/ca.crt " + std::string(KEYFLEET_CLI) + " key list 2>&1");
  EXPECT_EQ(env.exit_code, 3);
}

TEST_F(CliOnlineTest, TheControllerIsVerifiedAgainstItsCa) {
  // No CA configured: a usage error that says where to get it, before any connection.
  CommandResult none = RunCommand("HOME=/nonexistent " + std::string(KEYFLEET_CLI) +
                                  " --controller " + address_ + " principal list 2>&1");
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_THAT(none.out, HasSubstr("--ca FILE"));
  // Another CA: the handshake fails, so the controller is unreachable as far as we can trust.
  const std::string other = dir_->path().string() + "/other-ca";
  ASSERT_EQ(
      RunCommand(std::string(KEYFLEET_CONTROLLER) + " init-ca --ca-dir " + other + " >/dev/null")
          .exit_code,
      0);
  CommandResult wrong = RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ +
                                   " --ca " + other + "/ca.crt principal list 2>&1");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.out;
  // Plaintext against the TLS port fails too.
  CommandResult plain = RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ +
                                   " --insecure-dev principal list 2>&1");
  EXPECT_NE(plain.exit_code, 0) << plain.out;
}

TEST_F(CliOnlineTest, JoinTokensAreCreatedListedAndRevokedWithoutShowingTheSecretTwice) {
  CommandResult created = Run("host token create --labels env=prod,role=web --ttl 30m --uses 2");
  ASSERT_EQ(created.exit_code, 0) << created.out;
  const std::string token = created.out.substr(0, created.out.find('\n'));
  ASSERT_EQ(token.rfind("kfjt_", 0), 0u) << created.out;
  EXPECT_THAT(created.out, HasSubstr("keyfleet-agent enroll --controller " + address_));
  EXPECT_THAT(created.out, HasSubstr("--ca-hash sha256:"));
  const std::string id = token.substr(5, 16);
  CommandResult listed = Run("host token list");
  EXPECT_THAT(listed.out, HasSubstr(id));
  EXPECT_THAT(listed.out, HasSubstr("active"));
  EXPECT_THAT(listed.out, HasSubstr("0/2"));
  EXPECT_THAT(listed.out, Not(HasSubstr(token.substr(22))));
  EXPECT_THAT(Run("-o json host token list").out, Not(HasSubstr(token.substr(22))));
  EXPECT_EQ(Run("host token revoke " + id).exit_code, 0);
  EXPECT_THAT(Run("host token list").out, HasSubstr("revoked"));
  CommandResult again = Run("host token revoke " + id);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.out, HasSubstr("already revoked"));
  EXPECT_EQ(Run("host token create --ttl 8d").exit_code, 1);
  EXPECT_EQ(Run("host label nosuch-host env=prod").exit_code, 1);
  EXPECT_EQ(Run("host label nosuch-host").exit_code, 2);
}

TEST_F(CliOnlineTest, EveryCommandHasHelp) {
  for (const char* cmd : {"principal add",
                          "principal list",
                          "principal disable",
                          "key add",
                          "key list",
                          "key show",
                          "key label",
                          "key remove",
                          "key revoke",
                          "grant add",
                          "grant list",
                          "grant remove",
                          "host list",
                          "host show",
                          "host label",
                          "host remove",
                          "host token create",
                          "host token list",
                          "host token revoke",
                          "access",
                          "policy show",
                          "policy set",
                          "report compliance",
                          "report drift",
                          "audit",
                          "audit verify",
                          "rollout status",
                          "fingerprint",
                          "check-authorized-keys"}) {
    CommandResult r = RunCommand(std::string(KEYFLEET_CLI) + " " + cmd + " --help 2>&1");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << cmd;
  }
}

}  // namespace
}  // namespace keyfleet::testing
