// Every online `keyfleet` command against a real controller (its binary, on a loopback port)
// and a real PostgreSQL: table and JSON output, exit codes, and who may call what. Every call
// authenticates: the controller writes its bootstrap admin token to a file
// (--bootstrap-token-file) and the CLI reads it with --token-file. Labels: postgres, tls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kTokenPattern[] = "kfat_[0-9a-f]{16}_[0-9a-f]{64}";

class CliOnlineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new TempPostgres();
    dir_ = new ScopedTempDir("keyfleet-cli");
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    controller_ =
        SpawnProcess({KEYFLEET_CONTROLLER, "--db", pg_->Url(pg_->CreateDatabase()), "--listen",
                      address_, "--ca-dir", CaDir(), "--tls-name", "127.0.0.1",
                      "--bootstrap-token-file", BootstrapTokenFile(), "--log-level", "warn"},
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
  static std::string BootstrapTokenFile() { return dir_->path().string() + "/bootstrap.token"; }
  // The CLI with no credentials at all: none in the environment, no config file.
  static std::string Bare(const std::string& args, const std::string& address = address_) {
    return "env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE HOME=/nonexistent " +
           std::string(KEYFLEET_CLI) + " --controller " + address + " --ca " + CaDir() +
           "/ca.crt " + args;
  }
  // The CLI holding the token in `token_file`.
  static std::string As(const std::string& token_file, const std::string& args) {
    return KeyfleetCliCommand(KEYFLEET_CLI, address_, CaDir() + "/ca.crt", token_file, args);
  }
  // The CLI as the bootstrap admin.
  static std::string Cli(const std::string& args) { return As(BootstrapTokenFile(), args); }
  static CommandResult Run(const std::string& args) { return RunCommand(Cli(args) + " 2>&1"); }
  static CommandResult RunAs(const std::string& token_file, const std::string& args) {
    return RunCommand(As(token_file, args) + " 2>&1");
  }
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
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }
  // `token create --name NAME SPEC` as the bootstrap admin; the token goes to DIR/NAME.token
  // (0600, as the CLI requires). Returns the file's path.
  static std::string CreateToken(const std::string& name, const std::string& spec) {
    CommandResult created =
        RunCommand(Cli("token create --name " + name + " " + spec) + " 2>/dev/null");
    EXPECT_EQ(created.exit_code, 0) << name;
    const std::string path = WriteFile(name + ".token", created.out);
    chmod(path.c_str(), 0600);
    return path;
  }
  // The audit events (protobuf JSON) whose action is `action`.
  static std::vector<nlohmann::json> AuditEvents(const std::string& action) {
    std::vector<nlohmann::json> out;
    const nlohmann::json audit = Json("audit");
    for (const nlohmann::json& e : audit["events"]) {
      if (e["action"] == action) out.push_back(e);
    }
    return out;
  }
  // The events with `action` whose actor starts with `actor_prefix`, once there are at least
  // `count` (refusals are appended by a writer thread in batches, so they may take a moment); what
  // there is after 5 s otherwise.
  static std::vector<nlohmann::json> AwaitAuditEvents(const std::string& action,
                                                      const std::string& actor_prefix,
                                                      size_t count) {
    std::vector<nlohmann::json> out;
    for (int i = 0; i < 50; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      out.clear();
      for (const nlohmann::json& e : AuditEvents(action)) {
        if (e["actor"].get<std::string>().rfind(actor_prefix, 0) == 0) out.push_back(e);
      }
      if (out.size() >= count) break;
    }
    return out;
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
  // Times outside what can be stored are refused by name, never a raw database error.
  CommandResult far = Run("grant add dana --hosts '*' --account far --expires 5000000d");
  EXPECT_EQ(far.exit_code, 1) << far.out;
  EXPECT_THAT(far.out, HasSubstr("grant.expires_at is out of range"));
  EXPECT_THAT(far.out, HasSubstr("9999-12-31"));
  CommandResult ancient = Run("audit --since 1000000d");
  EXPECT_EQ(ancient.exit_code, 1) << ancient.out;
  EXPECT_THAT(ancient.out, HasSubstr("since is out of range"));

  // policy show / set
  const std::string shown = Run("policy show").out;
  EXPECT_THAT(shown, ::testing::ContainsRegex("max key age +365d"));
  EXPECT_THAT(shown, ::testing::ContainsRegex("revoke ends sessions +no"));
  EXPECT_EQ(Run("policy set --warn 45d --unmanaged report").exit_code, 0);
  nlohmann::json policy = Json("policy show");
  EXPECT_EQ(policy["warning_window"], "3888000s");
  EXPECT_EQ(policy["unmanaged_keys"], "UNMANAGED_KEYS_REPORT");
  EXPECT_EQ(Run("policy set --min-rsa-bits 1024").exit_code, 1);
  EXPECT_EQ(Run("policy set --max-age forever").exit_code, 2);
  // A rule per principal kind, and --apply-to-existing tried with a dry run first.
  EXPECT_EQ(Run("policy set --kind service --max-age 90d --dry-run").exit_code, 2);
  EXPECT_EQ(Run("policy set --inherit").exit_code, 2);
  auto dry = Run("policy set --kind service --max-age 60d --apply-to-existing --dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.out;
  EXPECT_THAT(dry.out, HasSubstr("dry run, nothing changed"));
  EXPECT_THAT(Run("policy show").out, HasSubstr("people and services follow"));
  EXPECT_EQ(Run("policy set --kind service --max-age 90d --warn 14d").exit_code, 0);
  auto per_kind = Run("policy show");
  EXPECT_THAT(per_kind.out, HasSubstr("services: max key age"));
  EXPECT_THAT(per_kind.out, HasSubstr("(people follow the max key age"));
  EXPECT_EQ(Json("policy show")["service"]["max_key_age"], "7776000s");
  EXPECT_EQ(Run("policy set --kind service --inherit").exit_code, 0);
  EXPECT_FALSE(Json("policy show").contains("service"));

  // principal disable, revoke
  EXPECT_EQ(Run("principal disable ci").exit_code, 0);
  EXPECT_EQ(Run("principal disable ci").exit_code, 1);
  EXPECT_EQ(Run("key revoke " + fp).exit_code, 2) << "--reason is required";
  CommandResult revoked = Run("key revoke " + fp + " --reason 'lost laptop'");
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out;
  EXPECT_EQ(Json("key show " + fp)["state"], "KEY_STATE_REVOKED");
  // A revoked key stays listed (the evidence); removing it is refused, saying why.
  CommandResult remove_revoked = Run("key remove " + fp);
  EXPECT_EQ(remove_revoked.exit_code, 1);
  EXPECT_THAT(remove_revoked.out, HasSubstr("--state revoked"));
  EXPECT_THAT(Run("key list --state revoked").out, HasSubstr(fp));
  EXPECT_THAT(Run("key add dana " + first_key).out, HasSubstr("lost laptop"));

  // rollout (no hosts: nothing targeted, converged at once) and revoke --wait
  nlohmann::json remaining = Json("key list --principal dana --state active");
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
  EXPECT_THAT(Run("audit verify").out, HasSubstr(" intact: "));
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

// More than one request can carry is a usage error that says how to split it, not gRPC's
// "Received message larger than max"; nothing is sent.
TEST_F(CliOnlineTest, AKeyFileLargerThanOneRequestSaysHowToSplitIt) {
  ASSERT_EQ(Run("principal add bulky").exit_code, 0);
  std::string lines;
  for (int i = 0; i < 6000; ++i) {
    lines += "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + std::string(1000, 'A') + " k" +
             std::to_string(i) + "\n";
  }
  CommandResult r = Run("key add bulky " + WriteFile("bulk.pub", lines));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("holds 6000 keys"));
  EXPECT_THAT(r.out, HasSubstr("split the file"));
  EXPECT_THAT(Run("key list --principal bulky").out, Not(HasSubstr("SHA256:")));
}

TEST_F(CliOnlineTest, AnUnreachableControllerIsExitCodeThree) {
  CommandResult r = RunCommand(
      Bare("--token-file " + BootstrapTokenFile() + " principal list", "127.0.0.1:1") + " 2>&1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("cannot reach the controller at 127.0.0.1:1"));
  // Everything from the environment instead of flags.
  CommandResult env = RunCommand(
      "env -u KEYFLEET_TOKEN HOME=/nonexistent "
      "KEYFLEET_CONTROLLER=127.0.0.1:1 KEYFLEET_CA=" +
      CaDir() + "/ca.crt KEYFLEET_TOKEN_FILE=" + BootstrapTokenFile() + " " +
      std::string(KEYFLEET_CLI) + " key list 2>&1");
  EXPECT_EQ(env.exit_code, 3) << env.out;
}

TEST_F(CliOnlineTest, TheControllerIsVerifiedAgainstItsCa) {
  const std::string token = " --token-file " + BootstrapTokenFile();
  // No CA configured: a usage error that says where to get it, before any connection.
  CommandResult none = RunCommand("HOME=/nonexistent " + std::string(KEYFLEET_CLI) +
                                  " --controller " + address_ + token + " principal list 2>&1");
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_THAT(none.out, HasSubstr("--ca FILE"));
  // Another CA: the handshake fails, so the controller is unreachable as far as we can trust.
  const std::string other = dir_->path().string() + "/other-ca";
  ASSERT_EQ(
      RunCommand(std::string(KEYFLEET_CONTROLLER) + " init-ca --ca-dir " + other + " >/dev/null")
          .exit_code,
      0);
  CommandResult wrong = RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ +
                                   " --ca " + other + "/ca.crt" + token + " principal list 2>&1");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.out;
  // A mutation too, at once and with the reason: a controller that cannot be trusted is not one
  // that lost an answer, so it is not asked again.
  const auto started = std::chrono::steady_clock::now();
  CommandResult wrong_add =
      RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ + " --ca " + other +
                 "/ca.crt" + token + " principal add mallory 2>&1");
  EXPECT_EQ(wrong_add.exit_code, 3) << wrong_add.out;
  EXPECT_THAT(wrong_add.out, Not(HasSubstr("asking again")));
  EXPECT_THAT(wrong_add.out, HasSubstr("certificate verify failed"));
  EXPECT_THAT(wrong_add.out, HasSubstr("the controller's CA"));
  // gRPC's own log lines stay out of the CLI's output: the reason is said once, by keyfleet.
  EXPECT_THAT(wrong_add.out, Not(HasSubstr("ssl_transport_security")));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  // Plaintext against the TLS port fails too.
  CommandResult plain = RunCommand(std::string(KEYFLEET_CLI) + " --controller " + address_ +
                                   " --insecure-dev" + token + " principal list 2>&1");
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

TEST_F(CliOnlineTest, CallsWithoutAValidCredentialAreNotAuthenticated) {
  // None at all: refused by the controller, which says how to authenticate.
  CommandResult none = RunCommand(Bare("principal list") + " 2>&1");
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_THAT(none.out, HasSubstr("keyfleet: not authenticated: no credentials"));
  EXPECT_THAT(none.out, HasSubstr("--token"));
  // Malformed, and well formed but unknown to the controller.
  CommandResult malformed = RunCommand(Bare("--token not-a-token principal list") + " 2>&1");
  EXPECT_EQ(malformed.exit_code, 1) << malformed.out;
  EXPECT_THAT(malformed.out, HasSubstr("keyfleet: not authenticated: malformed API token"));
  const std::string unknown = "kfat_0123456789abcdef_" + std::string(64, 'a');
  CommandResult stranger = RunCommand(Bare("--token " + unknown + " principal list") + " 2>&1");
  EXPECT_EQ(stranger.exit_code, 1) << stranger.out;
  EXPECT_THAT(stranger.out, HasSubstr("keyfleet: not authenticated: "));
  // A token file others can read is refused before anything is sent.
  const std::string readable = WriteFile("readable.token", ReadFile(BootstrapTokenFile()));
  chmod(readable.c_str(), 0644);
  CommandResult loose = RunAs(readable, "principal list");
  EXPECT_EQ(loose.exit_code, 2) << loose.out;
  EXPECT_THAT(loose.out, HasSubstr("chmod 600 " + readable));
  // Each refusal is audited with the peer's address, never with a secret.
  EXPECT_GE(AwaitAuditEvents("admin.ListPrincipals.denied", "unauthenticated:", 3).size(), 3u);
  EXPECT_THAT(Json("audit").dump(), Not(HasSubstr(std::string(64, 'a'))));
}

TEST_F(CliOnlineTest, TheTokenComesFromAFlagTheEnvironmentOrTheConfigFile) {
  const std::string auditor = CreateToken("precedence", "--role auditor");
  const std::string cli =
      std::string(KEYFLEET_CLI) + " --controller " + address_ + " --ca " + CaDir() + "/ca.crt ";
  const std::string clean = "env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE HOME=/nonexistent ";
  const std::string token = FirstLine(ReadFile(BootstrapTokenFile()));
  EXPECT_THAT(RunCommand(clean + "KEYFLEET_TOKEN=" + token + " " + cli + "whoami").out,
              HasSubstr("token:bootstrap: role admin"));
  EXPECT_THAT(
      RunCommand(clean + "KEYFLEET_TOKEN_FILE=" + BootstrapTokenFile() + " " + cli + "whoami").out,
      HasSubstr("token:bootstrap: role admin"));
  // A flag wins over the environment.
  EXPECT_THAT(RunCommand(clean + "KEYFLEET_TOKEN_FILE=" + BootstrapTokenFile() + " " + cli +
                         "--token-file " + auditor + " whoami")
                  .out,
              HasSubstr("token:precedence: role auditor"));
  // ~/.config/keyfleet/config.yaml: token_file, or the token itself.
  const std::string home = dir_->path().string() + "/home";
  std::filesystem::create_directories(home + "/.config/keyfleet");
  const std::string in_home = "env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE HOME=" + home + " ";
  std::ofstream(home + "/.config/keyfleet/config.yaml") << "token_file: " << auditor << "\n";
  EXPECT_THAT(RunCommand(in_home + cli + "whoami").out, HasSubstr("token:precedence"));
  const std::string config = home + "/.config/keyfleet/config.yaml";
  std::ofstream(config) << "token: " << token << "\n";
  // A token in the config file makes it a secret: readable by its owner only.
  std::filesystem::permissions(config, std::filesystem::perms(0644));
  CommandResult loose = RunCommand(in_home + cli + "whoami 2>&1");
  EXPECT_EQ(loose.exit_code, 2) << loose.out;
  EXPECT_THAT(loose.out, HasSubstr("readable by you only"));
  std::filesystem::permissions(config, std::filesystem::perms(0600));
  EXPECT_THAT(RunCommand(in_home + cli + "whoami").out, HasSubstr("token:bootstrap"));
}

TEST_F(CliOnlineTest, NamedTokensAreCreatedListedUsedAndRevoked) {
  const std::string stderr_file = dir_->path().string() + "/create.err";
  CommandResult created = RunCommand(
      Cli("token create --name ci-bot --role operator --expires 30d") + " 2>" + stderr_file);
  ASSERT_EQ(created.exit_code, 0) << ReadFile(stderr_file);
  // Only the token on stdout (for `> file`), the description on stderr.
  const std::string token = FirstLine(created.out);
  EXPECT_EQ(created.out, token + "\n");
  EXPECT_THAT(token, MatchesRegex(kTokenPattern));
  EXPECT_THAT(ReadFile(stderr_file), HasSubstr("token \"ci-bot\": role operator, all hosts"));
  const std::string secret = token.substr(22);  // after kfat_ID_
  const std::string file = WriteFile("ci-bot.token", created.out);
  chmod(file.c_str(), 0600);

  // Listed with its role and state, never with its secret (nor is the secret audited).
  CommandResult listed = Run("token list");
  EXPECT_THAT(listed.out, ContainsRegex("ci-bot +token +operator +all hosts +active"));
  EXPECT_THAT(listed.out, Not(HasSubstr(secret)));
  EXPECT_THAT(Run("-o json token list").out, Not(HasSubstr(secret)));
  EXPECT_THAT(Json("audit").dump(), Not(HasSubstr(secret)));

  // Used: the audit names it.
  CommandResult added = RunAs(file, "principal add erin");
  EXPECT_EQ(added.exit_code, 0) << added.out;
  EXPECT_THAT(RunAs(file, "whoami").out, HasSubstr("token:ci-bot: role operator, all hosts"));
  nlohmann::json who =
      nlohmann::json::parse(RunCommand(As(file, "-o json whoami")).out, nullptr, false);
  EXPECT_EQ(who.value("actor", ""), "token:ci-bot");
  std::vector<nlohmann::json> adds = AuditEvents("principal.add");
  ASSERT_FALSE(adds.empty());
  EXPECT_EQ(adds.back()["target"], "erin");
  EXPECT_EQ(adds.back()["actor"], "token:ci-bot");

  // Revoked: refused from the next call on.
  CommandResult revoked = Run("token revoke ci-bot");
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out;
  CommandResult refused = RunAs(file, "principal list");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("keyfleet: not authenticated: token \"ci-bot\" was revoked"));
  EXPECT_THAT(Run("token list").out, ContainsRegex("ci-bot +token +operator +all hosts +revoked"));
  EXPECT_EQ(Run("token revoke ci-bot").exit_code, 1) << "nothing live is named so";

  // Bad specifications.
  EXPECT_EQ(Run("token create --name x --role wizard").exit_code, 2);
  EXPECT_EQ(Run("token create --role admin").exit_code, 2);
  CommandResult ownerless = Run("token create --name x --role owner");
  EXPECT_EQ(ownerless.exit_code, 1);
  EXPECT_THAT(ownerless.out, HasSubstr("--principal"));
  EXPECT_EQ(Run("token create --name x --role owner --principal nobody").exit_code, 1);
  EXPECT_EQ(Run("token create --name 'bad name' --role auditor").exit_code, 1);
}

TEST_F(CliOnlineTest, AnAuditorReadsEverythingAndChangesNothing) {
  const std::string auditor = CreateToken("auditor-1", "--role auditor");
  for (const char* read : {"principal list", "key list", "grant list", "host list",
                           "host token list", "policy show", "audit", "token list", "whoami"}) {
    CommandResult r = RunAs(auditor, read);
    EXPECT_EQ(r.exit_code, 0) << read << "\n" << r.out;
  }
  CommandResult verify = RunAs(auditor, "audit verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_THAT(verify.out, HasSubstr(" intact: "));
  nlohmann::json verified =
      nlohmann::json::parse(RunCommand(As(auditor, "-o json audit verify")).out, nullptr, false);
  EXPECT_TRUE(verified.value("ok", false)) << verified.dump();

  CommandResult add = RunAs(auditor, "principal add mallory");
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.out,
              HasSubstr("keyfleet: permission denied: AddPrincipal needs role admin or operator"));
  CommandResult policy = RunAs(auditor, "policy set --warn 10d");
  EXPECT_EQ(policy.exit_code, 1);
  EXPECT_THAT(policy.out, HasSubstr("permission denied: SetPolicy needs role admin"));
  CommandResult mint = RunAs(auditor, "token create --name escalate --role admin");
  EXPECT_EQ(mint.exit_code, 1);
  EXPECT_THAT(mint.out, HasSubstr("permission denied: CreateToken needs role admin"));
  CommandResult join = RunAs(auditor, "host token create");
  EXPECT_EQ(join.exit_code, 1);
  EXPECT_THAT(join.out, HasSubstr("permission denied"));

  // Nothing changed, and each refusal is audited under the auditor's name.
  EXPECT_THAT(Run("principal list").out, Not(HasSubstr("mallory")));
  EXPECT_THAT(Run("token list").out, Not(HasSubstr("escalate")));
  std::vector<nlohmann::json> denied =
      AwaitAuditEvents("admin.AddPrincipal.denied", "token:auditor-1", 1);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied.back()["target"], "mallory");
}

TEST_F(CliOnlineTest, AdminCertificatesAuthenticateOverMtlsUntilRevoked) {
  const std::string key = dir_->path().string() + "/ops.key";
  const std::string cert = dir_->path().string() + "/ops.crt";
  CommandResult issued = Run("admin cert issue --name ops-cert --role operator --key-out " + key +
                             " --cert-out " + cert);
  ASSERT_EQ(issued.exit_code, 0) << issued.out;
  struct stat key_stat {};
  ASSERT_EQ(stat(key.c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  EXPECT_THAT(ReadFile(key), HasSubstr("PRIVATE KEY"));
  EXPECT_THAT(ReadFile(cert), HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(Run("token list").out,
              ContainsRegex("ops-cert +certificate +operator +all hosts +active"));

  // The certificate alone authenticates (no token anywhere), and the audit names it.
  const std::string with_cert = "--cert " + cert + " --key " + key + " ";
  CommandResult who = RunCommand(Bare(with_cert + "whoami") + " 2>&1");
  EXPECT_EQ(who.exit_code, 0) << who.out;
  EXPECT_THAT(who.out, HasSubstr("cert:ops-cert: role operator"));
  CommandResult added = RunCommand(Bare(with_cert + "principal add frank") + " 2>&1");
  EXPECT_EQ(added.exit_code, 0) << added.out;
  std::vector<nlohmann::json> adds = AuditEvents("principal.add");
  ASSERT_FALSE(adds.empty());
  EXPECT_EQ(adds.back()["target"], "frank");
  EXPECT_EQ(adds.back()["actor"], "cert:ops-cert");
  EXPECT_EQ(RunCommand(Bare("--cert " + cert + " whoami") + " 2>&1").exit_code, 2)
      << "--cert needs --key";

  // Revoked by name: the same certificate, still within its validity, is refused.
  EXPECT_EQ(Run("token revoke ops-cert").exit_code, 0);
  CommandResult refused = RunCommand(Bare(with_cert + "principal list") + " 2>&1");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.out,
              HasSubstr("keyfleet: not authenticated: admin certificate \"ops-cert\" was revoked"));
}

TEST_F(CliOnlineTest, TheAuditLogNamesTheVerifiedCallerNotWhatItClaims) {
  // $USER used to be the actor; it says nothing now.
  CommandResult added = RunCommand("USER=mallory " + Cli("principal add gina") + " 2>&1");
  ASSERT_EQ(added.exit_code, 0) << added.out;
  bool found = false;
  const nlohmann::json audit = Json("audit");
  ASSERT_TRUE(audit.contains("events"));
  for (const nlohmann::json& e : audit["events"]) {
    const std::string actor = e["actor"];
    EXPECT_THAT(actor, Not(HasSubstr("unverified"))) << e.dump();
    EXPECT_THAT(actor, Not(HasSubstr("mallory"))) << e.dump();
    EXPECT_THAT(actor,
                ContainsRegex("^((token|cert|host|join-token|unauthenticated):.+|controller)$"))
        << e.dump();
    if (e["action"] == "principal.add" && e["target"] == "gina") {
      found = true;
      EXPECT_EQ(actor, "token:bootstrap");
    }
  }
  EXPECT_TRUE(found);
  CommandResult table = Run("audit");
  EXPECT_THAT(table.out, HasSubstr("token:bootstrap"));
  EXPECT_THAT(table.out, Not(HasSubstr("unverified")));
  // The controller made the bootstrap token itself, once.
  std::vector<nlohmann::json> made = AuditEvents("token.create");
  ASSERT_FALSE(made.empty());
  EXPECT_EQ(made.front()["actor"], "controller");
  EXPECT_EQ(made.front()["target"], "bootstrap");
}

TEST_F(CliOnlineTest, TheBootstrapTokenComesFromASecretOrIsPrintedOnceAndIsMadeOnce) {
  // A second controller (same CA, its own database) for each case; `log` is its stderr.
  const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  auto start = [&](const std::string& db, const std::string& log,
                   const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        KEYFLEET_CONTROLLER, "--db",  db,           "--listen", address,
        "--ca-dir",          CaDir(), "--tls-name", "127.0.0.1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string log_path = dir_->path().string() + "/" + log;
    const pid_t pid = SpawnProcess(argv, log_path);
    for (int i = 0; i < 100 && ReadFile(log_path).find("serving on port") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_THAT(ReadFile(log_path), HasSubstr("serving on port")) << log;
    return pid;
  };
  auto run_as = [&](const std::string& token_file, const std::string& args) {
    return RunCommand(
        KeyfleetCliCommand(KEYFLEET_CLI, address, CaDir() + "/ca.crt", token_file, args) + " 2>&1");
  };

  // A mounted secret: `keyfleet-controller bootstrap-token` makes one beforehand (0400).
  CommandResult generated = RunCommand(std::string(KEYFLEET_CONTROLLER) + " bootstrap-token");
  ASSERT_EQ(generated.exit_code, 0);
  EXPECT_THAT(FirstLine(generated.out), MatchesRegex(kTokenPattern));
  const std::string secret = WriteFile("mounted.token", generated.out);
  chmod(secret.c_str(), 0400);
  const std::string db = pg_->Url(pg_->CreateDatabase());
  pid_t pid = start(db, "mounted-1.log", {"--bootstrap-token-file", secret});
  EXPECT_THAT(run_as(secret, "whoami").out,
              HasSubstr("token:bootstrap: role admin, all hosts, expires never"));
  // A named admin takes over and revokes the bootstrap token.
  CommandResult named = RunCommand(
      Bare("--token-file " + secret + " token create --name root-admin --role admin", address) +
      " 2>/dev/null");
  ASSERT_EQ(named.exit_code, 0);
  const std::string admin = WriteFile("root-admin.token", named.out);
  chmod(admin.c_str(), 0600);
  EXPECT_EQ(run_as(admin, "token revoke bootstrap").exit_code, 0);
  CommandResult refused = run_as(secret, "principal list");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.out, HasSubstr("not authenticated: token \"bootstrap\" was revoked"));
  // A restart with the same secret does not bring it back, and leaves the file alone.
  StopProcess(pid);
  pid = start(db, "mounted-2.log", {"--bootstrap-token-file", secret});
  EXPECT_EQ(run_as(secret, "principal list").exit_code, 1);
  EXPECT_EQ(run_as(admin, "principal list").exit_code, 0);
  EXPECT_EQ(ReadFile(secret), generated.out);
  StopProcess(pid);

  // No file: printed once on stderr at the first start of a database, never again.
  const std::string fresh = pg_->Url(pg_->CreateDatabase());
  pid = start(fresh, "printed-1.log", {});
  std::smatch printed;
  const std::string log = ReadFile(dir_->path().string() + "/printed-1.log");
  ASSERT_TRUE(std::regex_search(log, printed, std::regex(kTokenPattern))) << log;
  const std::string printed_file = WriteFile("printed.token", printed.str() + "\n");
  chmod(printed_file.c_str(), 0600);
  EXPECT_THAT(run_as(printed_file, "whoami").out, HasSubstr("token:bootstrap: role admin"));
  StopProcess(pid);
  pid = start(fresh, "printed-2.log", {});
  EXPECT_THAT(ReadFile(dir_->path().string() + "/printed-2.log"),
              Not(ContainsRegex(kTokenPattern)));
  EXPECT_EQ(run_as(printed_file, "whoami").exit_code, 0);
  StopProcess(pid);
}

// `key generate` of every type: ssh-keygen reads the private key it writes (with the
// passphrase when one is given) and derives the public key the controller stored; the key file
// is 0600 and never overwritten; JSON output carries no private key.
TEST_F(CliOnlineTest, GeneratedKeysAreOpenSshKeysThatOnlyTheCallerHolds) {
  ASSERT_EQ(Run("principal add pipeline --kind service").exit_code, 0);
  const std::string dir = dir_->path().string();
  const std::string pass = WriteFile("pass.txt", "correct horse battery\n");
  chmod(pass.c_str(), 0600);
  for (const std::string type : {"ed25519", "ecdsa-p256", "rsa-3072"}) {
    for (bool with_pass : {false, true}) {
      SCOPED_TRACE(type + (with_pass ? " with a passphrase" : ""));
      const std::string out = dir + "/gen-" + type + (with_pass ? "-p" : "");
      CommandResult r = Run("key generate pipeline --type " + type + " --label ci --out " + out +
                            (with_pass ? " --passphrase-file " + pass : ""));
      ASSERT_EQ(r.exit_code, 0) << r.out;
      EXPECT_THAT(r.out, HasSubstr("the controller keeps no copy"));
      struct stat st {};
      ASSERT_EQ(stat(out.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u);
      EXPECT_THAT(ReadFile(out), HasSubstr("-----BEGIN OPENSSH PRIVATE KEY-----"));
      CommandResult derived =
          RunCommand("ssh-keygen -y -f " + out +
                     (with_pass ? " -P 'correct horse battery'" : " -P ''") + " 2>&1");
      ASSERT_EQ(derived.exit_code, 0) << derived.out;
      const std::string pub = ReadFile(out + ".pub");
      const std::string stored_key = pub.substr(0, pub.find(' ', pub.find(' ') + 1));
      EXPECT_EQ(derived.out.substr(0, derived.out.find(' ', derived.out.find(' ') + 1)),
                stored_key);
      if (with_pass) {
        EXPECT_NE(RunCommand("ssh-keygen -y -P '' -f " + out + " >/dev/null 2>&1").exit_code, 0)
            << "the key is encrypted";
      }
      const std::string fp =
          FirstLine(RunCommand("ssh-keygen -lf " + out + ".pub | cut -d' ' -f2").out);
      nlohmann::json key = Json("key show " + fp);
      EXPECT_EQ(key["source"], "KEY_SOURCE_GENERATED") << key.dump();
    }
  }
  // Never over an existing file; a refused request leaves no file and registers nothing.
  const size_t keys_before = Json("key list --principal pipeline")["keys"].size();
  CommandResult again = Run("key generate pipeline --out " + dir + "/gen-ed25519");
  EXPECT_EQ(again.exit_code, 2) << again.out;
  EXPECT_THAT(again.out, HasSubstr("never overwritten"));
  CommandResult nobody = Run("key generate nobody --out " + dir + "/gen-nobody");
  EXPECT_NE(nobody.exit_code, 0);
  EXPECT_NE(access((dir + "/gen-nobody").c_str(), F_OK), 0) << "removed after the refusal";
  EXPECT_EQ(Json("key list --principal pipeline")["keys"].size(), keys_before);
  // The passphrase is a secret: a file others may read is refused before anything is made.
  const std::string open_pass = WriteFile("pass-open.txt", "correct horse battery\n");
  chmod(open_pass.c_str(), 0644);
  CommandResult exposed =
      Run("key generate pipeline --out " + dir + "/gen-exposed --passphrase-file " + open_pass);
  EXPECT_EQ(exposed.exit_code, 2) << exposed.out;
  EXPECT_THAT(exposed.out, HasSubstr("readable by group or others"));
  EXPECT_NE(access((dir + "/gen-exposed").c_str(), F_OK), 0);
  // JSON output never holds the private key.
  CommandResult json = RunCommand(Cli("-o json key generate pipeline --out " + dir + "/gen-json"));
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(json.out, Not(HasSubstr("privateKey")));
  // Rotating to a generated key: the new key is in the file, the old one superseded.
  const std::string old_fp =
      Json("key list --principal pipeline")["keys"][0]["fingerprint"].get<std::string>();
  CommandResult rotated = Run("key rotate " + old_fp + " --generate --type ecdsa-p256 --out " +
                              dir + "/gen-rotated --now");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out;
  EXPECT_EQ(RunCommand("ssh-keygen -y -P '' -f " + dir + "/gen-rotated >/dev/null").exit_code, 0);
  EXPECT_EQ(
      Run("key rotate " + old_fp + " " + dir + "/gen-rotated.pub --generate --out " + dir + "/x")
          .exit_code,
      2)
      << "a file or --generate, not both";
}

// A command run again with the same --request-id (a script retrying after exit 3) is done
// once: the second run prints the first outcome. The same id for another request is refused;
// a request whose answer held a secret says it cannot be shown again.
TEST_F(CliOnlineTest, ARequestIdMakesAChangeHappenOnce) {
  ASSERT_EQ(Run("principal add idem --kind service").exit_code, 0);
  const std::string key = WriteFile("idem.pub", SyntheticEd25519Line(91, "idem") + "\n");
  ASSERT_EQ(Run("key add idem " + key).exit_code, 0);
  const std::string grant = "grant add idem --hosts env=idem --account idem";
  const size_t audited_before = AuditEvents("grant.add").size();
  CommandResult first = Run("--request-id ci-job-17 " + grant);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  CommandResult again = Run("--request-id ci-job-17 " + grant);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(again.out, first.out) << "the first outcome, word for word";
  const nlohmann::json grants = Json("grant list --principal idem");
  EXPECT_EQ(grants["grants"].size(), 1u) << "done once: " << grants.dump();
  EXPECT_EQ(AuditEvents("grant.add").size(), audited_before + 1) << "one audit event";

  CommandResult other =
      Run("--request-id ci-job-17 grant add idem --hosts env=other --account idem");
  EXPECT_EQ(other.exit_code, 1) << other.out;
  EXPECT_THAT(other.out, HasSubstr("already used for a different request"));
  CommandResult bad = Run("--request-id 'no spaces' principal add x");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("A-Z a-z 0-9 . _ -"));

  const std::string dir = dir_->path().string();
  ASSERT_EQ(Run("--request-id gen-once-1 key generate idem --out " + dir + "/idem-gen").exit_code,
            0);
  CommandResult secret =
      Run("--request-id gen-once-1 key generate idem --out " + dir + "/idem-gen-2");
  EXPECT_EQ(secret.exit_code, 1) << secret.out;
  EXPECT_THAT(secret.out, HasSubstr("shown once"));
  EXPECT_NE(access((dir + "/idem-gen-2").c_str(), F_OK), 0) << "no empty key file";
  EXPECT_EQ(Json("key list --principal idem")["keys"].size(), 2u) << "one generated key";
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
                          "audit export",
                          "rollout status",
                          "token create",
                          "token list",
                          "token revoke",
                          "admin cert issue",
                          "whoami",
                          "fingerprint",
                          "check-authorized-keys"}) {
    CommandResult r = RunCommand(std::string(KEYFLEET_CLI) + " " + cmd + " --help 2>&1");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << cmd;
  }
}

// PostgreSQL down: the CLI says the controller's database is unavailable (exit 6, not "cannot
// reach the controller", exit 3) and never shows where the database is.
TEST(CliDatabaseOutage, TheDatabaseIsNamedAsTheProblemAndNeverItsAddress) {
  TempPostgres pg;
  ScopedTempDir dir("keyfleet-cli-db");
  const std::string database = pg.Url(pg.CreateDatabase());
  const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string root = dir.path().string();
  std::ofstream(root + "/controller.yaml") << "db_retry_budget: 2s\n";
  // Started with a soft open-file limit of 256 under a hard one of 4096: it raises its own.
  pid_t controller =
      SpawnProcess({"/usr/bin/prlimit", "--nofile=256:4096", KEYFLEET_CONTROLLER, "--config",
                    root + "/controller.yaml", "--db", database, "--listen", address, "--ca-dir",
                    root + "/ca", "--tls-name", "127.0.0.1", "--bootstrap-token-file",
                    root + "/bootstrap.token", "--log-level", "warn"},
                   root + "/controller.log");
  auto cli = [&](const std::string& args) {
    return RunCommand(KeyfleetCliCommand(KEYFLEET_CLI, address, root + "/ca/ca.crt",
                                         root + "/bootstrap.token", args) +
                      " 2>&1");
  };
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = cli("principal list").exit_code == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up);
  ASSERT_EQ(cli("principal add before").exit_code, 0);
  EXPECT_THAT(
      RunCommand("grep 'Max open files' /proc/" + std::to_string(controller) + "/limits").out,
      ContainsRegex("Max open files +4096 +4096"))
      << "the soft limit is raised to the hard one";

  pg.Stop(/*immediate=*/true);
  CommandResult refused = cli("principal add during");
  EXPECT_EQ(refused.exit_code, 6) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("the controller's database is unavailable"));
  EXPECT_THAT(refused.out, HasSubstr("nothing was changed"));
  EXPECT_THAT(refused.out, Not(HasSubstr("cannot reach the controller")));
  for (const std::string& secret :
       {database, std::string("port="), std::string("host="), std::string("postgresql://")}) {
    EXPECT_THAT(refused.out, Not(HasSubstr(secret))) << "the database's address leaked";
  }
  pg.Start();
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = cli("principal add after").exit_code == 0;
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(back);
  StopProcess(controller);
}

}  // namespace
}  // namespace keyfleet::testing
