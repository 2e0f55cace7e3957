// End to end, with real parts only: PostgreSQL, the controller binary (TLS, its own CA), one agent
// enrolled with a join token (`enroll`, then `run` over mTLS, root "/") writing the real homes of
// two real test accounts, the `keyfleet` CLI verifying the controller's certificate, and a real
// sshd on a loopback port. Each case checks what sshd allows and that `keyfleet access` agrees.
// The CLI authenticates with the bootstrap admin token the controller writes
// (--bootstrap-token-file), or with a token that admin created for a narrower role.
// Labels: sshd, tls. The accounts and sshd are created and removed by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "common/krl.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;

// A file's text ("" when it cannot be read), for failure messages.
std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class FleetSshdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = pg_.Url(pg_.CreateDatabase());
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    ca_dir_ = sshd_.dir() + "/ca";
    StartController();
    other_ = sshd_.AddAccount();
    // Enrollment as an operator does it: a token for this host, then the agent pins the CA.
    nlohmann::json token =
        Json("host token create --hostname " + std::string(kHost) + " --labels env=e2e --ttl 10m");
    ASSERT_TRUE(token.is_object());
    CommandResult enrolled =
        EnrollAgentBinary(KEYFLEET_AGENT, address_, token["token"].get<std::string>(),
                          token["ca_pin"].get<std::string>(), sshd_.dir() + "/agent-tls");
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    StartAgent();
    ASSERT_TRUE(WaitFor([&] {
      nlohmann::json h = Json("host show " + std::string(kHost));
      return h.is_object() && h.value("applied_digest", "") != "";
    })) << "the agent never reported";
  }
  void TearDown() override {
    StopProcess(agent_);
    StopProcess(controller_);
  }

  // The agent, root "/", keeping its KRL where this test's sshd reads RevokedKeys (not the
  // machine's /etc/ssh: tests run in parallel) and following this sshd's log.
  void StartAgent() {
    agent_ = SpawnProcess({KEYFLEET_AGENT,
                           "run",
                           "--controller",
                           address_,
                           "--tls-dir",
                           sshd_.dir() + "/agent-tls",
                           "--root",
                           "/",
                           "--cache",
                           sshd_.dir() + "/agent-cache",
                           "--recheck-interval",
                           "2s",
                           "--revoked-keys-file",
                           Krl(),
                           "--sshd-log",
                           sshd_.dir() + "/sshd.log",
                           "--sshd-log-format",
                           "sshd",
                           "--log-level",
                           "warn"},
                          sshd_.dir() + "/agent.log");
  }
  std::string Krl() const { return sshd_.dir() + "/krl/revoked.krl"; }

  void StartController() {
    // The first start writes the bootstrap admin token there; a restart finds it registered.
    controller_ = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--db", db_, "--listen", address_, "--ca-dir", ca_dir_, "--tls-name",
         "127.0.0.1", "--bootstrap-token-file", AdminTokenFile(), "--log-level", "warn"},
        sshd_.dir() + "/controller.log");
    ASSERT_TRUE(WaitFor([&] { return Cli("principal list").exit_code == 0; }));
  }

  std::string AdminTokenFile() const { return sshd_.dir() + "/bootstrap.token"; }
  // The CLI holding the token in `token_file` (no other credential from the environment).
  std::string CliCommand(const std::string& token_file, const std::string& args) const {
    return KeyfleetCliCommand(KEYFLEET_CLI, address_, ca_dir_ + "/ca.crt", token_file, args);
  }
  CommandResult CliAs(const std::string& token_file, const std::string& args) {
    return RunCommand(CliCommand(token_file, args) + " 2>&1");
  }
  // As the bootstrap admin.
  CommandResult Cli(const std::string& args) { return CliAs(AdminTokenFile(), args); }
  nlohmann::json Json(const std::string& args) {
    CommandResult r = RunCommand(CliCommand(AdminTokenFile(), "-o json " + args) + " 2>/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // `token create --name NAME SPEC` as the admin, written to DIR/NAME.token (0600).
  std::string CreateToken(const std::string& name, const std::string& spec) {
    CommandResult created = RunCommand(
        CliCommand(AdminTokenFile(), "token create --name " + name + " " + spec) + " 2>/dev/null");
    EXPECT_EQ(created.exit_code, 0) << name;
    const std::string path = sshd_.dir() + "/" + name + ".token";
    std::ofstream(path) << created.out;
    chmod(path.c_str(), 0600);
    return path;
  }
  static bool WaitFor(const std::function<bool()>& pred) {
    for (int i = 0; i < 150; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
  }
  // Waits until the host has applied its current desired state.
  void Converged() {
    ASSERT_TRUE(WaitFor([&] {
      nlohmann::json h = Json("host show " + std::string(kHost));
      return h.is_object() && h.value("converged", false);
    })) << "the host did not converge";
  }
  // The key fingerprints `keyfleet access` lists for ACCOUNT.
  std::set<std::string> Access(const std::string& account) {
    std::set<std::string> fps;
    const nlohmann::json access = Json("access " + std::string(kHost) + " " + account);
    for (const auto& e : access["entries"]) {
      fps.insert(e["key"]["fingerprint"].get<std::string>());
    }
    return fps;
  }
  // Adds PRINCIPAL with a fresh key pair NAME; returns the fingerprint.
  std::string Person(const std::string& principal, const std::string& key) {
    sshd_.NewKey(key);
    EXPECT_EQ(Cli("principal add " + principal).exit_code, 0);
    CommandResult added = Cli("key add " + principal + " " + sshd_.dir() + "/" + key + ".pub");
    EXPECT_EQ(added.exit_code, 0) << added.out;
    return Json("key list --principal " + principal)["keys"][0]["fingerprint"];
  }

  static constexpr char kHost[] = "kf-e2e-host";
  TempPostgres pg_;
  // sshd refuses every key while its RevokedKeys file is missing: every case here also shows
  // that the agent keeps it there.
  SshdFixture sshd_{".ssh/authorized_keys", {"RevokedKeys {dir}/krl/revoked.krl"}};
  std::string db_, address_, other_, ca_dir_;
  pid_t controller_ = -1, agent_ = -1;
};

TEST_F(FleetSshdTest, WhatTheCliGrantsIsWhatSshdAllows) {
  const std::string user = sshd_.user();
  // 1. A key added and granted through the CLI logs in as the granted account only.
  const std::string alice = Person("alice", "alice");
  ASSERT_EQ(Cli("grant add alice --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  std::string out;
  EXPECT_TRUE(sshd_.LoginAs(user, "alice", "echo in", &out)) << sshd_.Log();
  EXPECT_EQ(out, "in\n");
  EXPECT_FALSE(sshd_.LoginAs(other_, "alice", "true")) << "not granted as " << other_;
  EXPECT_EQ(Access(user), std::set<std::string>{alice});
  EXPECT_TRUE(Access(other_).empty());

  // 2. A grant whose expiry has passed gives nothing.
  const std::string bob = Person("bob", "bob");
  ASSERT_EQ(
      Cli("grant add bob --hosts env=e2e --account " + other_ + " --expires 2020-01-01").exit_code,
      0);
  Converged();
  EXPECT_FALSE(sshd_.LoginAs(other_, "bob", "true"));
  EXPECT_TRUE(Access(other_).empty());

  // 3. A grant with options runs only its command.
  Person("deployer", "deploy");
  ASSERT_EQ(Cli("grant add deployer --hosts env=e2e --account " + other_ +
                " --options 'restrict,command=\"echo ok\"'")
                .exit_code,
            0);
  Converged();
  EXPECT_TRUE(sshd_.LoginAs(other_, "deploy", "id", &out));
  EXPECT_EQ(out, "ok\n") << "the forced command ran instead of `id`";
  EXPECT_EQ(Access(other_).size(), 1u);

  // 4. A key past the policy's max age: its row is aged as if added 400 days ago (a controller
  //    restart reloads it), and it stops logging in.
  const std::string carol = Person("carol", "carol");
  ASSERT_EQ(Cli("grant add carol --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  EXPECT_TRUE(sshd_.LoginAs(user, "carol", "true")) << sshd_.Log();
  {
    pqxx::connection conn(db_);
    pqxx::work txn(conn);
    txn.exec_params0(
        "UPDATE keys SET created_at = now() - interval '400 days', "
        "expires_at = now() - interval '35 days' WHERE fingerprint = $1",
        carol);
    txn.commit();
  }
  StopProcess(controller_);
  StartController();
  Converged();
  ASSERT_TRUE(WaitFor([&] { return !sshd_.LoginAs(user, "carol", "true"); }));
  EXPECT_EQ(Access(user), std::set<std::string>{alice});
  EXPECT_THAT(Cli("report compliance").out, HasSubstr("keys expired or past max age: 1"));

  // 5. Revoked with --wait: by the time the command returns, the login fails.
  CommandResult revoked = Cli("key revoke " + alice + " --reason e2e --wait --timeout 30s");
  ASSERT_EQ(revoked.exit_code, 0) << revoked.out;
  EXPECT_THAT(revoked.out, HasSubstr("converged 1/1 hosts"));
  EXPECT_FALSE(sshd_.LoginAs(user, "alice", "true"));
  EXPECT_TRUE(Access(user).empty());

  // 6. A connected host that does not apply in time: --wait says so (exit 4) and names it.
  kill(agent_, SIGSTOP);
  CommandResult stuck =
      Cli("grant add bob --hosts env=e2e --account " + user + " --wait --timeout 2s");
  kill(agent_, SIGCONT);
  EXPECT_EQ(stuck.exit_code, 4) << stuck.out;
  EXPECT_THAT(stuck.out, HasSubstr("not converged: " + std::string(kHost)));
  Converged();
  EXPECT_TRUE(sshd_.LoginAs(user, "bob", "true")) << "applied once the agent resumed";
}

// Owner self-service: an admin sets up alice (principal, grant) and hands her a token for her
// own principal; with it she adds her new key, which then logs in through real sshd, and removes
// it again. The same token cannot touch anyone else's keys nor grant herself more.
TEST_F(FleetSshdTest, AnOwnerManagesItsOwnKeysAndNothingElse) {
  const std::string user = sshd_.user();
  ASSERT_EQ(Cli("principal add alice").exit_code, 0);
  ASSERT_EQ(Cli("grant add alice --hosts env=e2e --account " + user).exit_code, 0);
  const std::string bob = Person("bob", "bob");
  const std::string owner = CreateToken("alice-self", "--role owner --principal alice");
  EXPECT_THAT(CliAs(owner, "whoami").out,
              HasSubstr("token:alice-self: role owner, principal alice"));

  // Her own key: added with her token, and sshd lets it in.
  sshd_.NewKey("alice-laptop");
  CommandResult added =
      CliAs(owner, "key add alice " + sshd_.dir() + "/alice-laptop.pub --label laptop");
  ASSERT_EQ(added.exit_code, 0) << added.out;
  EXPECT_THAT(added.out, HasSubstr("1 key(s) added to alice"));
  const std::string laptop = Json("key list --principal alice")["keys"][0]["fingerprint"];
  Converged();
  std::string out;
  EXPECT_TRUE(sshd_.LoginAs(user, "alice-laptop", "echo self-service", &out)) << sshd_.Log();
  EXPECT_EQ(out, "self-service\n");
  EXPECT_EQ(Access(user), (std::set<std::string>{laptop}));
  const nlohmann::json adds = Json("audit --since 1h");
  bool audited = false;
  for (const nlohmann::json& e : adds["events"]) {
    if (e["action"] == "key.add" && e["actor"] == "token:alice-self") audited = true;
  }
  EXPECT_TRUE(audited) << "the key's addition is audited under her token";

  // Anyone else's keys, and grants: refused, and nothing changes.
  sshd_.NewKey("planted");
  CommandResult planted = CliAs(owner, "key add bob " + sshd_.dir() + "/planted.pub");
  EXPECT_EQ(planted.exit_code, 1) << planted.out;
  EXPECT_THAT(planted.out, HasSubstr("keyfleet: permission denied"));
  EXPECT_THAT(planted.out, HasSubstr("principal \"bob\""));
  CommandResult removed = CliAs(owner, "key remove " + bob);
  EXPECT_EQ(removed.exit_code, 1) << removed.out;
  EXPECT_THAT(removed.out, HasSubstr("keyfleet: permission denied"));
  CommandResult granted = CliAs(owner, "grant add alice --hosts env=e2e --account " + other_);
  EXPECT_EQ(granted.exit_code, 1) << granted.out;
  EXPECT_THAT(granted.out,
              HasSubstr("keyfleet: permission denied: AddGrant needs role admin or operator"));
  EXPECT_EQ(Json("key list --principal bob")["keys"].size(), 1u);
  EXPECT_EQ(Json("grant list --principal alice")["grants"].size(), 1u);
  EXPECT_FALSE(sshd_.LoginAs(other_, "alice-laptop", "true")) << "no grant as " << other_;

  // Her own key removed with her token: it stops logging in.
  CommandResult gone = CliAs(owner, "key remove " + laptop + " --wait --timeout 30s");
  ASSERT_EQ(gone.exit_code, 0) << gone.out;
  EXPECT_FALSE(sshd_.LoginAs(user, "alice-laptop", "true"));
}

}  // namespace
}  // namespace keyfleet::testing

namespace keyfleet::testing {
namespace {

// `key rotate` end to end: both keys log in during the overlap, and at its end the old one stops
// on time with the agent stopped — sshd enforces the old line's expiry-time by itself.
TEST_F(FleetSshdTest, RotationOverlapEndsOnTimeEvenWithTheAgentStopped) {
  const std::string user = sshd_.user();
  const std::string old_fp = Person("dave", "dave-old");
  ASSERT_EQ(Cli("grant add dave --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  ASSERT_TRUE(sshd_.LoginAs(user, "dave-old", "true")) << sshd_.Log();

  sshd_.NewKey("dave-new");
  CommandResult rotated =
      Cli("key rotate " + old_fp + " " + sshd_.dir() + "/dave-new.pub --overlap 1m");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out;
  EXPECT_THAT(rotated.out, HasSubstr("rotated to SHA256:"));
  Converged();
  EXPECT_TRUE(sshd_.LoginAs(user, "dave-old", "true")) << "the overlap: the old key still works";
  EXPECT_TRUE(sshd_.LoginAs(user, "dave-new", "true")) << sshd_.Log();
  const nlohmann::json old_key = Json("key show " + old_fp);
  EXPECT_EQ(old_key.value("state", ""), "KEY_STATE_SUPERSEDED");
  const std::string new_fp = old_key.value("successor_fingerprint", "");
  ASSERT_FALSE(new_fp.empty());
  EXPECT_EQ(Json("key show " + new_fp).value("predecessor_fingerprint", ""), old_fp);

  // The agent stops; the old key's line still ends at the overlap's end (within ~60 s: the line
  // carries the minute), and the new one keeps working.
  kill(agent_, SIGSTOP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(100);
  bool old_refused = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!sshd_.LoginAs(user, "dave-old", "true")) {
      old_refused = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  EXPECT_TRUE(old_refused) << "the old key still logs in after its overlap";
  EXPECT_TRUE(sshd_.LoginAs(user, "dave-new", "true"));
  kill(agent_, SIGCONT);
  Converged();
  // Says what the file and sshd held if it fails (it did once when a parallel test's fixture
  // removed /run/sshd under this sshd; tests/support/sshd_fixture.cc no longer does).
  EXPECT_TRUE(sshd_.LoginAs(user, "dave-new", "true"))
      << "authorized_keys:\n"
      << ReadText(sshd_.home() + "/.ssh/authorized_keys") << "\nsshd:\n"
      << sshd_.Log();
  EXPECT_FALSE(sshd_.LoginAs(user, "dave-old", "true"));
}

// `key generate`: a key pair of each type made by the controller logs in through a real sshd
// with the private key the CLI wrote; rotating to a generated key moves the login to it.
TEST_F(FleetSshdTest, GeneratedKeysOfEveryTypeLogIn) {
  const std::string user = sshd_.user();
  ASSERT_EQ(Cli("principal add pipeline --kind service").exit_code, 0);
  ASSERT_EQ(Cli("grant add pipeline --hosts env=e2e --account " + user).exit_code, 0);
  std::vector<std::string> fingerprints;
  for (const std::string type : {"ed25519", "ecdsa-p256", "rsa-3072"}) {
    CommandResult made =
        Cli("key generate pipeline --type " + type + " --out " + sshd_.dir() + "/gen-" + type);
    ASSERT_EQ(made.exit_code, 0) << made.out;
    fingerprints.push_back(sshd_.Fingerprint("gen-" + type));
  }
  Converged();
  for (const std::string type : {"ed25519", "ecdsa-p256", "rsa-3072"}) {
    std::string out;
    EXPECT_TRUE(sshd_.LoginAs(user, "gen-" + type, "echo generated", &out)) << type << "\n"
                                                                            << sshd_.Log();
    EXPECT_THAT(out, HasSubstr("generated"));
  }
  CommandResult rotated =
      Cli("key rotate " + fingerprints[0] + " --generate --out " + sshd_.dir() + "/gen-next --now");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out;
  Converged();
  EXPECT_TRUE(sshd_.LoginAs(user, "gen-next", "true")) << sshd_.Log();
  EXPECT_FALSE(sshd_.LoginAs(user, "gen-ed25519", "true")) << "rotated with --now";
}

// Revocation that sshd enforces: a key pasted by hand into users' own files (which keyfleet
// leaves alone) logs in until it is revoked, and is then refused by sshd itself through the KRL
// the agent keeps (RevokedKeys), in every account, while the lines stay where they were.
TEST_F(FleetSshdTest, ARevokedKeyPastedByHandIsRefusedBySshd) {
  const std::string user = sshd_.user();
  Person("alice", "alice");
  ASSERT_EQ(Cli("grant add alice --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  const std::string bob = Person("bob", "bob");  // in the inventory, granted nowhere
  const std::string bob_line = ReadText(sshd_.dir() + "/bob.pub");
  // Pasted by hand into each account's own ~/.ssh/authorized_keys (its file, 0600).
  ASSERT_TRUE(sshd_.AddAuthorizedKeys(user, {bob_line}, SshdFixture::KeyFileEdit::kAppend));
  ASSERT_TRUE(sshd_.AddAuthorizedKeys(other_, {bob_line}, SshdFixture::KeyFileEdit::kAppend));
  EXPECT_TRUE(sshd_.LoginAs(user, "bob", "true")) << sshd_.Log();
  EXPECT_TRUE(sshd_.LoginAs(other_, "bob", "true")) << sshd_.Log();

  CommandResult revoked = Cli("key revoke " + bob + " --reason leaked --wait --timeout 30s");
  ASSERT_EQ(revoked.exit_code, 0) << revoked.out;
  EXPECT_THAT(revoked.out, HasSubstr("converged 1/1 hosts"));
  EXPECT_FALSE(sshd_.LoginAs(user, "bob", "true"));
  EXPECT_FALSE(sshd_.LoginAs(other_, "bob", "true"));
  EXPECT_THAT(ReadText(sshd_.home() + "/.ssh/authorized_keys"), HasSubstr(bob_line))
      << "the user's own line is still there: sshd refused it through the KRL";
  EXPECT_THAT(sshd_.Log(), HasSubstr("revoked"));
  CommandResult q = RunCommand("ssh-keygen -Q -f " + Krl() + " " + sshd_.dir() + "/bob.pub");
  EXPECT_EQ(q.exit_code, 1) << q.out;
  EXPECT_THAT(q.out, HasSubstr("REVOKED"));
  // Everything else still logs in: the KRL refuses the revoked key only.
  EXPECT_TRUE(sshd_.LoginAs(user, "alice", "true")) << sshd_.Log();
  struct stat st {};
  ASSERT_EQ(stat(Krl().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_uid, 0u);
}

// The KRL never goes missing or half-written through the agent: it is read continuously while
// keys are revoked and the agent is killed with SIGKILL at random moments and started again.
// At the end it holds every revoked key, and no temporary file is left.
TEST_F(FleetSshdTest, TheKrlIsNeverMissingAcrossKillsOfTheAgent) {
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::string problem;
  std::thread reader([&] {
    while (!done && problem.empty()) {
      std::ifstream in(Krl(), std::ios::binary);
      if (!in) {
        problem = "the KRL was missing";
        break;
      }
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      if (absl::Status s = ParseKrl(bytes).status(); !s.ok()) problem = s.ToString();
      ++reads;
    }
  });
  std::mt19937 random(20261201);
  std::vector<std::string> revoked;
  for (int round = 0; round < 6; ++round) {
    const std::string name = "k" + std::to_string(round);
    const std::string fp = Person(name, name);
    ASSERT_EQ(Cli("key revoke " + fp + " --reason churn").exit_code, 0);
    revoked.push_back(name);
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 40));
    kill(agent_, SIGKILL);
    waitpid(agent_, nullptr, 0);
    StartAgent();
  }
  Converged();
  done = true;
  reader.join();
  EXPECT_EQ(problem, "") << "after " << reads << " reads";
  EXPECT_GT(reads, 100);
  for (const std::string& name : revoked) {
    CommandResult q =
        RunCommand("ssh-keygen -Q -f " + Krl() + " " + sshd_.dir() + "/" + name + ".pub");
    EXPECT_EQ(q.exit_code, 1) << name << ": " << q.out;
  }
  for (const auto& entry : std::filesystem::directory_iterator(sshd_.dir() + "/krl")) {
    EXPECT_EQ(entry.path().filename(), "revoked.krl") << "left over: " << entry.path();
  }
}

// Last use from sshd's log: the agent follows it, and a real login is reported with its host,
// account and address.
TEST_F(FleetSshdTest, ARealLoginIsReportedAsTheKeysLastUse) {
  const std::string user = sshd_.user();
  const std::string alice = Person("alice", "alice");
  Person("bob", "bob");
  ASSERT_EQ(Cli("grant add alice --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  EXPECT_THAT(Cli("key show " + alice).out, HasSubstr("no recorded use"));
  ASSERT_TRUE(sshd_.LoginAs(user, "alice", "true")) << sshd_.Log();
  nlohmann::json key;
  ASSERT_TRUE(WaitFor([&] {
    key = Json("key show " + alice);
    return key.is_object() && key.contains("uses") && !key["uses"].empty();
  })) << "no last use reported; the agent's log:\n"
      << ReadText(sshd_.dir() + "/agent.log");
  EXPECT_EQ(key["uses"][0]["hostname"], kHost);
  EXPECT_EQ(key["uses"][0]["account"], user);
  EXPECT_EQ(key["uses"][0]["from_address"], "127.0.0.1");
  EXPECT_TRUE(key.contains("last_used"));
  // The key list says when each key was last used; bob's never was.
  const nlohmann::json listed = Json("key list");
  std::set<std::string> used;
  for (const auto& k : listed["keys"]) {
    if (k.contains("last_used")) used.insert(k["principal"].get<std::string>());
  }
  EXPECT_EQ(used, std::set<std::string>{"alice"}) << listed.dump();
}

// Live sessions: revoking a key with --kill-sessions ends the sessions it opened (and the
// command they ran), while another key's session stays, and says how many it ended.
TEST_F(FleetSshdTest, RevokeWithKillSessionsEndsThatKeysSessionsOnly) {
  const std::string user = sshd_.user();
  const std::string alice = Person("alice", "alice");
  const std::string bob = Person("bob", "bob");
  ASSERT_EQ(Cli("grant add alice --hosts env=e2e --account " + user).exit_code, 0);
  ASSERT_EQ(Cli("grant add bob --hosts env=e2e --account " + user).exit_code, 0);
  Converged();
  const pid_t a = sshd_.OpenSession(user, "alice", 61);
  const pid_t b = sshd_.OpenSession(user, "bob", 62);
  // Both logins seen by the agent (reported as last use, so in its table of live sessions).
  ASSERT_TRUE(WaitFor([&] {
    return !Json("key show " + alice)["uses"].empty() && !Json("key show " + bob)["uses"].empty();
  })) << sshd_.Log();
  ASSERT_FALSE(Exited(a));
  ASSERT_FALSE(Exited(b));

  CommandResult revoked =
      Cli("key revoke " + alice + " --reason stolen --kill-sessions --wait --timeout 30s");
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out;
  EXPECT_THAT(revoked.out, HasSubstr("converged 1/1 hosts"));
  EXPECT_THAT(revoked.out, HasSubstr("ended 1 live session"));
  EXPECT_TRUE(WaitFor([&] { return Exited(a); })) << "alice's session is still open";
  EXPECT_TRUE(WaitFor([&] {
    return RunCommand("pgrep -u " + user + " -f -x 'sleep 61'").exit_code != 0;
  })) << "the command alice's session ran outlived it";
  EXPECT_FALSE(Exited(b)) << "bob's session ended too";
  const nlohmann::json key = Json("key show " + alice);
  ASSERT_EQ(key["sessions_ended"].size(), 1u) << key.dump();
  EXPECT_EQ(key["sessions_ended"][0]["count"], 1);
  EXPECT_EQ(key["sessions_ended"][0]["hostname"], kHost);
  kill(b, SIGTERM);
  waitpid(b, nullptr, 0);
}

}  // namespace
}  // namespace keyfleet::testing
