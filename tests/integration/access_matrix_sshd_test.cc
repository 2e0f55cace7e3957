// `keyfleet access` and `keyfleet verify` against what a real `ssh` login does, over a table of
// scenarios, with real parts only: PostgreSQL, the controller binary (TLS, its own CA), one agent
// enrolled with a join token then `run` over mTLS writing the real homes of real test accounts,
// the CLI with the bootstrap admin token, and a loopback sshd reading authorized_keys and
// authorized_keys2 (Debian's default). One controller, agent and sshd serve the whole table.
//
// For each (account, key) a row names, three answers must agree after the host has reported:
//   - `ssh -i KEY ACCOUNT@127.0.0.1` (authenticated: ssh did not fail with 255, and sshd logged
//     "Accepted publickey" for that key), which comes from 127.0.0.1;
//   - `keyfleet verify KEY HOST ACCOUNT --from 127.0.0.1` (exit 0 yes, 1 no);
//   - `keyfleet access HOST ACCOUNT` (logs_in of the key's lines) and `verify` without --from,
//     which answer "from the addresses its options allow", so they differ from the login only
//     for a from= that excludes 127.0.0.1 (the row says so).
// At the end every (account, key) pair of the run is checked again the same way.
// Labels: sshd, tls. The accounts and sshd are created and removed by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {
namespace {

// What a row expects for one (account, key).
struct Expect {
  std::string account;
  std::string key;  // a key pair made by the test: DIR/KEY and DIR/KEY.pub
  bool login = false;
  // access logs_in and verify without --from; unset: the same as `login`.
  std::optional<bool> listed;
  // A state among the key's access entries (ACTIVE, PENDING_ADD, PENDING_REMOVAL, UNMANAGED,
  // UNREPORTED), NONE for no entry, "" unchecked.
  std::string state;
  std::vector<std::pair<std::string, bool>> from;  // verify --from ADDR: allowed
  std::optional<bool> sshd_refuses;                // the account's access facts
  std::string expires_at;                          // an entry's expires_at (RFC 3339), "" unchecked
  std::string options;                             // a substring of an entry's options
  int exit_code = 0;                               // ssh's exit when it logs in
  std::string file;                                // an entry's file, "" unchecked
};

struct Row {
  std::string name;
  std::function<void()> act;
  std::vector<Expect> expect;
  bool converges = true;  // false: the agent is paused; the host does not apply the change
};

std::string Utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class AccessMatrixSshdTest : public ::testing::Test {
 protected:
  // sshd reads both files, as Debian's default AuthorizedKeysFile does.
  AccessMatrixSshdTest() : sshd_(".ssh/authorized_keys .ssh/authorized_keys2") {}

  void SetUp() override {
    db_ = pg_.Url(pg_.CreateDatabase());
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    ca_dir_ = sshd_.dir() + "/ca";
    controller_ = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--db", db_, "--listen", address_, "--ca-dir", ca_dir_, "--tls-name",
         "127.0.0.1", "--bootstrap-token-file", AdminTokenFile(), "--log-level", "warn"},
        sshd_.dir() + "/controller.log");
    ASSERT_TRUE(WaitFor([&] { return Cli("principal list").exit_code == 0; }, 30));
    nlohmann::json token =
        Json("host token create --hostname " + std::string(kHost) + " --labels env=e2e --ttl 10m");
    ASSERT_TRUE(token.is_object());
    CommandResult enrolled =
        EnrollAgentBinary(KEYFLEET_AGENT, address_, token["token"].get<std::string>(),
                          token["ca_pin"].get<std::string>(), sshd_.dir() + "/agent-tls");
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    agent_ = SpawnProcess(
        {KEYFLEET_AGENT, "run", "--controller", address_, "--tls-dir", sshd_.dir() + "/agent-tls",
         "--root", "/", "--cache", sshd_.dir() + "/agent-cache", "--recheck-interval", "2s",
         "--log-level", "warn"},
        sshd_.dir() + "/agent.log");
    ASSERT_TRUE(WaitFor(
        [&] {
          nlohmann::json h = Json("host show " + std::string(kHost));
          return h.is_object() && h.value("applied_digest", "") != "";
        },
        30))
        << "the agent never reported";
  }
  void TearDown() override {
    if (agent_ > 0) kill(agent_, SIGCONT);
    StopProcess(agent_);
    StopProcess(controller_);
  }

  std::string AdminTokenFile() const { return sshd_.dir() + "/bootstrap.token"; }
  std::string CliCommand(const std::string& args) const {
    return KeyfleetCliCommand(KEYFLEET_CLI, address_, ca_dir_ + "/ca.crt", AdminTokenFile(), args);
  }
  CommandResult Cli(const std::string& args) { return RunCommand(CliCommand(args) + " 2>&1"); }
  // Exit 0 expected.
  void MustCli(const std::string& args) {
    CommandResult r = Cli(args);
    ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  }
  nlohmann::json Json(const std::string& args) {
    CommandResult r = RunCommand(CliCommand("-o json " + args) + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // Polls `pred` every 100 ms for up to `seconds`.
  static bool WaitFor(const std::function<bool()>& pred, int seconds = 15) {
    for (int i = 0; i < seconds * 10; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
  }
  void Converged() {
    ASSERT_TRUE(WaitFor([&] {
      nlohmann::json h = Json("host show " + std::string(kHost));
      return h.is_object() && h.value("converged", false);
    })) << "the host did not converge";
  }

  std::string KeyPath(const std::string& key) const { return sshd_.dir() + "/" + key; }
  // A key pair DIR/NAME of `type` (ed25519, rsa, dsa); remembers its fingerprint.
  std::string NewKey(const std::string& name, const std::string& type = "ed25519") {
    const std::string bits = type == "rsa" ? " -b 3072" : "";
    CommandResult made = RunCommand("ssh-keygen -q -t " + type + bits + " -N '' -C " + name +
                                    " -f " + KeyPath(name) + " 2>&1");
    EXPECT_EQ(made.exit_code, 0) << made.out;
    CommandResult fp = RunCommand("ssh-keygen -l -E sha256 -f " + KeyPath(name) + ".pub");
    std::istringstream words(fp.out);
    std::string bits_word, fingerprint;
    words >> bits_word >> fingerprint;
    EXPECT_EQ(fingerprint.rfind("SHA256:", 0), 0u) << fp.out;
    fps_[name] = fingerprint;
    std::ifstream in(KeyPath(name) + ".pub");
    std::string line;
    std::getline(in, line);
    return line;
  }
  // PRINCIPAL (added when new) with a fresh key pair KEY of `type`.
  void Person(const std::string& principal, const std::string& key,
              const std::string& type = "ed25519") {
    Cli("principal add " + principal);  // exists already for a second key
    NewKey(key, type);
    MustCli("key add " + principal + " " + KeyPath(key) + ".pub");
  }
  std::string Grant(const std::string& subject, const std::string& args) {
    nlohmann::json g = Json("grant add " + subject + " " + args);
    EXPECT_TRUE(g.is_object() && g.contains("grant")) << g.dump();
    return g.is_object() && g.contains("grant") ? g["grant"].value("id", "") : "";
  }
  std::string HomeOf(const std::string& account) const {
    struct passwd* pw = getpwnam(account.c_str());
    return pw == nullptr ? "" : pw->pw_dir;
  }
  // Appends LINE to ACCOUNT's FILE (in ~/.ssh, made as sshd wants it when missing), as the user
  // editing it by hand would.
  void AddByHand(const std::string& account, const std::string& file, const std::string& line) {
    ASSERT_TRUE(sshd_.AddAuthorizedKeys(account, {line}, SshdFixture::KeyFileEdit::kAppend, file))
        << account;
  }

  struct Login {
    bool in = false;
    int exit_code = -1;
  };
  // How many times sshd accepted FP for ACCOUNT so far.
  int Accepted(const std::string& account, const std::string& fp) const {
    std::istringstream log(sshd_.Log());
    int n = 0;
    for (std::string line; std::getline(log, line);) {
      if (line.find("Accepted publickey for " + account + " from 127.0.0.1") != std::string::npos &&
          line.find(fp) != std::string::npos) {
        ++n;
      }
    }
    return n;
  }
  // A real login from 127.0.0.1. ssh exits 255 for its own failures (authentication among them);
  // anything else is the remote command's exit, so the key got in (a forced command may exit
  // non-zero). sshd's log must agree.
  Login Ssh(const std::string& account, const std::string& key) {
    const int before = Accepted(account, fps_[key]);
    CommandResult r = RunCommand(
        "ssh -n -F /dev/null -p " + std::to_string(sshd_.port()) + " -i " + KeyPath(key) +
        " -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"
        " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10"
        " -o PubkeyAcceptedAlgorithms=+ssh-dss " +
        account + "@127.0.0.1 true 2>/dev/null");
    Login login{r.exit_code >= 0 && r.exit_code != 255, r.exit_code};
    const int after = Accepted(account, fps_[key]);
    EXPECT_EQ(after > before, login.in)
        << "ssh exit " << r.exit_code << " but sshd's log says otherwise for " << key << " as "
        << account;
    return login;
  }

  struct Verdict {
    int exit_code = -1;
    nlohmann::json json;
  };
  Verdict Verify(const std::string& key_arg, const std::string& account, const std::string& from) {
    CommandResult r = RunCommand(CliCommand("-o json verify " + key_arg + " " + kHost + " " +
                                            account + (from.empty() ? "" : " --from " + from)) +
                                 " 2>&1");
    return {r.exit_code, nlohmann::json::parse(r.out, nullptr, false)};
  }

  static std::string Entries(const nlohmann::json& access, const std::string& fp) {
    nlohmann::json out = nlohmann::json::array();
    if (access.is_object() && access.contains("entries")) {
      for (const nlohmann::json& e : access["entries"]) {
        if (e.value("fingerprint", "") == fp) out.push_back(e);
      }
    }
    return out.dump(1);
  }
  // Whether `access` (for e.account) shows what `e` expects of the key's entries.
  bool AccessShows(const nlohmann::json& access, const Expect& e) {
    if (!access.is_object() || !access.contains("entries")) return false;
    const std::string fp = fps_[e.key];
    const bool listed = e.listed.value_or(e.login);
    bool any_logs_in = false, any = false, state = e.state.empty() || e.state == "NONE";
    bool expires = e.expires_at.empty(), options = e.options.empty(), file = e.file.empty();
    for (const nlohmann::json& entry : access["entries"]) {
      if (entry.value("fingerprint", "") != fp || entry.value("account", "") != e.account) continue;
      any = true;
      any_logs_in |= entry.value("logs_in", false);
      state |= entry.value("state", "") == "ACCESS_STATE_" + e.state;
      expires |= entry.value("expires_at", "") == e.expires_at;
      options |= entry.value("options", "").find(e.options) != std::string::npos;
      file |= entry.value("file", "") == e.file;
    }
    if (e.state == "NONE" && any) return false;
    if (e.sshd_refuses) {
      bool refuses = false;
      for (const nlohmann::json& a : access["accounts"]) {
        if (a.value("account", "") == e.account) refuses = a.value("sshd_refuses", false);
      }
      if (refuses != *e.sshd_refuses) return false;
    }
    return any_logs_in == listed && state && expires && options && file;
  }

  // Waits (bounded) until `access` shows what `e` expects, then checks that the real login and
  // `verify` agree with it.
  void Check(const Expect& e) {
    SCOPED_TRACE(e.key + " as " + e.account);
    const std::string fp = fps_[e.key];
    ASSERT_FALSE(fp.empty()) << "no key " << e.key;
    const bool listed = e.listed.value_or(e.login);
    nlohmann::json access;
    const bool shown = WaitFor([&] {
      access = Json("access " + std::string(kHost) + " " + e.account);
      return AccessShows(access, e);
    });
    EXPECT_TRUE(shown) << "access never showed logs_in=" << listed << " state=" << e.state
                       << " expires_at=" << e.expires_at << " options~" << e.options
                       << " file=" << e.file << "; its entries for the key:\n"
                       << Entries(access, fp) << "\naccounts: " << access["accounts"].dump();

    const Login login = Ssh(e.account, e.key);
    EXPECT_EQ(login.in, e.login) << "the real login (ssh exit " << login.exit_code
                                 << "); access said:\n"
                                 << Entries(access, fp);
    if (login.in) EXPECT_EQ(login.exit_code, e.exit_code);

    const Verdict plain = Verify(KeyPath(e.key) + ".pub", e.account, "");
    EXPECT_EQ(plain.exit_code, listed ? 0 : 1) << plain.json.dump(1);
    const Verdict loopback = Verify(fp, e.account, "127.0.0.1");
    EXPECT_EQ(loopback.exit_code, e.login ? 0 : 1)
        << "verify --from 127.0.0.1 against the real login:\n"
        << loopback.json.dump(1);
    // The host reports the files of the accounts keyfleet manages there; of any other account
    // verify must say it cannot tell (a user's own key there would log in unseen).
    // (An account the host says sshd refuses is settled too.)
    bool account_reported = false;
    for (const auto& a : access["accounts"]) {
      if (a.value("account", "") == e.account) {
        account_reported = a.value("files_reported", false) || a.value("sshd_refuses", false);
      }
    }
    for (const Verdict* v : {&plain, &loopback}) {
      EXPECT_TRUE(v->json.is_object() &&
                  v->json.value("determined", false) == (account_reported || v->exit_code == 0))
          << "verify's certainty does not match what the host reported (account reported: "
          << account_reported << "):\n"
          << v->json.dump(1);
      if (v->json.is_object()) {
        EXPECT_EQ(v->json.value("allowed", false), v->exit_code == 0) << v->json.dump(1);
      }
    }
    for (const auto& [address, allowed] : e.from) {
      const Verdict v = Verify(fp, e.account, address);
      EXPECT_EQ(v.exit_code, allowed ? 0 : 1) << "verify --from " << address << ":\n"
                                              << v.json.dump(1);
    }
  }

  // Runs the rows in order; returns each row's name with whether it passed.
  std::vector<std::pair<std::string, bool>> RunRows(const std::vector<Row>& rows) {
    std::vector<std::pair<std::string, bool>> results;
    const ::testing::TestResult* result =
        ::testing::UnitTest::GetInstance()->current_test_info()->result();
    for (const Row& row : rows) {
      SCOPED_TRACE("row " + row.name);
      const int failures_before = result->total_part_count();
      const auto started = std::chrono::steady_clock::now();
      if (row.act) row.act();
      if (row.converges) Converged();
      for (const Expect& e : row.expect) {
        Check(e);
        model_[{e.account, e.key}] = e;
      }
      const bool passed = result->total_part_count() == failures_before;
      results.emplace_back(row.name, passed);
      std::printf(
          "[ row      ] %-48s %s (%.1fs)\n", row.name.c_str(), passed ? "ok" : "FAILED",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      std::fflush(stdout);
    }
    return results;
  }

  static constexpr char kHost[] = "kf-e2e-host";
  TempPostgres pg_;
  SshdFixture sshd_;
  std::string db_, address_, ca_dir_;
  pid_t controller_ = -1, agent_ = -1;
  std::map<std::string, std::string> fps_;                       // key name -> fingerprint
  std::map<std::pair<std::string, std::string>, Expect> model_;  // (account, key) -> last expect
};

TEST_F(AccessMatrixSshdTest, AccessAndVerifyAgreeWithRealLogins) {
  const std::string user = sshd_.user();
  const std::string second = sshd_.AddAccount();
  const std::string open_home = sshd_.AddAccount();   // its home becomes 0777
  const std::string group_home = sshd_.AddAccount();  // its home becomes 0775, private group
  const std::string missing = "kf-nosuch-" + std::to_string(getpid());
  const std::string hosts = " --hosts env=e2e --account ";
  std::map<std::string, std::string> grant_ids;

  // Sub-minute grant expiry: the grant ends at FLOOR+50s; the agent writes expiry-time FLOOR
  // (sshd's format has minutes), so from FLOOR on the line no longer logs in.
  std::time_t floor_minute = 0;
  // A grant ending in two days, on a whole minute (before any key's max age ends).
  const std::string gina_expiry = Utc((std::time(nullptr) + 2 * 86400) / 60 * 60);

  // A key granted, converged and checked to log in, before the row changes it.
  auto granted_and_in = [&](const std::string& principal, const std::string& key,
                            const std::string& account) {
    Person(principal, key);
    grant_ids[key] = Grant(principal, hosts + account);
    Converged();
    Check({.account = account, .key = key, .login = true, .state = "ACTIVE"});
  };

  const std::vector<Row> rows = {
      {"principal_grant",
       [&] {
         Person("alice", "alice");
         Grant("alice", hosts + user);
       },
       {{.account = user,
         .key = "alice",
         .login = true,
         .state = "ACTIVE",
         .file = "authorized_keys"}}},
      {"grant_to_one_account_not_another",
       nullptr,
       {{.account = second, .key = "alice", .login = false, .state = "NONE"}}},
      {"principal_grant_covers_a_new_key",
       [&] { Person("alice", "alice-2"); },
       {{.account = user, .key = "alice-2", .login = true, .state = "ACTIVE"}}},
      {"fingerprint_grant_only_that_key",
       [&] {
         Person("bob", "bob");
         Person("bob", "bob-2");
         Grant(fps_["bob"], hosts + second);
       },
       {{.account = second, .key = "bob", .login = true, .state = "ACTIVE"},
        {.account = second, .key = "bob-2", .login = false, .state = "NONE"},
        {.account = user, .key = "bob", .login = false, .state = "NONE"}}},
      {"label_selector_non_match",
       [&] {
         Person("carol", "carol");
         Grant("carol", "--hosts role=db --account " + user);
       },
       {{.account = user, .key = "carol", .login = false, .state = "NONE"}}},
      {"label_selector_match_after_host_label",
       [&] { MustCli("host label " + std::string(kHost) + " role=db"); },
       {{.account = user, .key = "carol", .login = true, .state = "ACTIVE"}}},
      {"label_selector_non_match_after_label_removed",
       [&] { MustCli("host label " + std::string(kHost) + " --remove role"); },
       {{.account = user, .key = "carol", .login = false, .state = "NONE"}}},
      {"label_selector_two_labels_match",
       [&] {
         Person("cora", "cora");
         Grant("cora", "--hosts env=e2e,tier=1 --account " + user);
         MustCli("host label " + std::string(kHost) + " tier=1");
       },
       {{.account = user, .key = "cora", .login = true, .state = "ACTIVE"}}},
      {"hostname_glob_match",
       [&] {
         Person("dave", "dave");
         Grant("dave", "--hosts 'kf-e2e-*' --account " + second);
       },
       {{.account = second, .key = "dave", .login = true, .state = "ACTIVE"}}},
      {"hostname_glob_non_match",
       [&] {
         Person("erin", "erin");
         Grant("erin", "--hosts 'other-*' --account " + second);
       },
       {{.account = second, .key = "erin", .login = false, .state = "NONE"}}},
      {"grant_expiry_in_the_past",
       [&] {
         Person("frank", "frank");
         Grant("frank", hosts + user + " --expires 2020-01-01");
       },
       {{.account = user, .key = "frank", .login = false, .state = "NONE"}}},
      {"grant_expiry_in_the_future",
       [&] {
         Person("gina", "gina");
         Grant("gina", hosts + user + " --expires " + gina_expiry.substr(0, 16) + "Z");
       },
       {{.account = user,
         .key = "gina",
         .login = true,
         .state = "ACTIVE",
         .expires_at = gina_expiry}}},
      {"key_revoke",
       [&] {
         granted_and_in("ivan", "ivan", user);
         MustCli("key revoke " + fps_["ivan"] + " --reason matrix");
       },
       {{.account = user, .key = "ivan", .login = false, .state = "NONE"}}},
      {"key_remove",
       [&] {
         granted_and_in("jack", "jack", second);
         MustCli("key remove " + fps_["jack"]);
       },
       {{.account = second, .key = "jack", .login = false, .state = "NONE"}}},
      {"principal_disable",
       [&] {
         granted_and_in("judy", "judy", user);
         MustCli("principal disable judy");
       },
       {{.account = user, .key = "judy", .login = false, .state = "NONE"}}},
      {"grant_remove",
       [&] {
         granted_and_in("kate", "kate", user);
         MustCli("grant remove " + grant_ids["kate"]);
       },
       {{.account = user, .key = "kate", .login = false, .state = "NONE"}}},
      {"two_identical_grants",
       [&] {
         Person("leo", "leo");
         grant_ids["leo"] = Grant("leo", hosts + user);
         Grant("leo", hosts + user);
       },
       {{.account = user, .key = "leo", .login = true, .state = "ACTIVE"}}},
      {"one_of_two_identical_grants_removed",
       [&] { MustCli("grant remove " + grant_ids["leo"]); },
       {{.account = user, .key = "leo", .login = true, .state = "ACTIVE"}}},
      {"options_restrict",
       [&] {
         Person("mia", "mia");
         Grant("mia", hosts + user + " --options restrict");
       },
       {{.account = user, .key = "mia", .login = true, .state = "ACTIVE", .options = "restrict"}}},
      {"options_forced_command",
       [&] {
         Person("ned", "ned");
         Grant("ned", hosts + user + " --options 'restrict,command=\"exit 3\"'");
       },
       {{.account = user,
         .key = "ned",
         .login = true,
         .state = "ACTIVE",
         .options = "command=",
         .exit_code = 3}}},
      {"from_loopback",
       [&] {
         Person("olga", "olga");
         Grant("olga", hosts + user + " --options 'from=\"127.0.0.1\"'");
       },
       {{.account = user,
         .key = "olga",
         .login = true,
         .state = "ACTIVE",
         .from = {{"127.0.0.1", true}, {"10.1.2.3", false}},
         .options = "from="}}},
      {"from_ten_slash_eight",
       [&] {
         Person("pete", "pete");
         Grant("pete", hosts + user + " --options 'from=\"10.0.0.0/8\"'");
       },
       {{.account = user,
         .key = "pete",
         .login = false,
         .listed = true,  // from the addresses the option allows
         .state = "ACTIVE",
         .from = {{"127.0.0.1", false}, {"10.1.2.3", true}},
         .options = "from="}}},
      {"strict_modes_home_0777",
       [&] {
         ASSERT_EQ(chmod(HomeOf(open_home).c_str(), 0777), 0);
         Person("quinn", "quinn");
         Grant("quinn", hosts + open_home);
       },
       {{.account = open_home, .key = "quinn", .login = false, .sshd_refuses = true}}},
      {"strict_modes_group_writable_home_private_group",
       [&] {
         ASSERT_EQ(chmod(HomeOf(group_home).c_str(), 0775), 0);
         Person("rose", "rose");
         Grant("rose", hosts + group_home);
       },
       {{.account = group_home,
         .key = "rose",
         .login = true,
         .state = "ACTIVE",
         .sshd_refuses = false}}},
      {"grant_to_an_account_the_host_lacks",
       [&] {
         Person("sam", "sam");
         Grant("sam", hosts + missing);
       },
       {{.account = missing, .key = "sam", .login = false, .sshd_refuses = true}}},
      {"sub_minute_grant_expiry_written_to_the_minute",
       [&] {
         Person("hank", "hank");
         const std::time_t now = std::time(nullptr);
         floor_minute = (now + 25 + 59) / 60 * 60;  // at least 25 s away
         Grant("hank", hosts + user + " --expires " + Utc(floor_minute + 50));
         Converged();
         const Expect before_the_minute{.account = user,
                                        .key = "hank",
                                        .login = true,
                                        .state = "ACTIVE",
                                        .expires_at = Utc(floor_minute)};
         Check(before_the_minute);
         model_[{user, "hank"}] = before_the_minute;
       },
       {}},
      {"unmanaged_key_added_by_hand",
       [&] { AddByHand(user, "authorized_keys", NewKey("tina")); },
       {{.account = user, .key = "tina", .login = true, .state = "UNMANAGED"}}},
      {"unmanaged_key_expired",
       [&] { AddByHand(user, "authorized_keys", "expiry-time=\"202001010000\" " + NewKey("uma")); },
       {{.account = user, .key = "uma", .login = false, .state = "UNMANAGED"}}},
      {"unmanaged_key_expiring_later",
       [&] { AddByHand(user, "authorized_keys", "expiry-time=\"209901010000\" " + NewKey("una")); },
       {{.account = user, .key = "una", .login = true, .state = "UNMANAGED"}}},
      {"unmanaged_key_from_elsewhere",
       [&] { AddByHand(user, "authorized_keys", "from=\"10.0.0.0/8\" " + NewKey("vic")); },
       {{.account = user,
         .key = "vic",
         .login = false,
         .listed = true,
         .state = "UNMANAGED",
         .from = {{"10.9.9.9", true}}}}},
      {"authorized_keys2_line",
       [&] { AddByHand(second, "authorized_keys2", NewKey("vera")); },
       {{.account = second,
         .key = "vera",
         .login = true,
         .state = "UNMANAGED",
         .file = "authorized_keys2"}}},
      {"dsa_key_refused_by_policy_then_added_by_hand",
       [&] {
         Cli("principal add walt");
         const std::string line = NewKey("walt", "dsa");
         CommandResult added = Cli("key add walt " + KeyPath("walt") + ".pub");
         EXPECT_EQ(added.exit_code, 1) << added.out;
         EXPECT_THAT(added.out, ::testing::HasSubstr("ssh-dss is never allowed"));
         AddByHand(user, "authorized_keys", line);  // the user's own line: sshd 9.2 refuses it
       },
       {{.account = user, .key = "walt", .login = false, .state = "UNMANAGED"}}},
      {"managed_key_also_added_by_hand",
       [&] {
         Person("kim", "kim");
         grant_ids["kim"] = Grant("kim", hosts + second);
         Converged();
         std::ifstream in(KeyPath("kim") + ".pub");
         std::string line;
         std::getline(in, line);
         AddByHand(second, "authorized_keys", line);
       },
       {{.account = second, .key = "kim", .login = true, .state = "UNMANAGED"},
        {.account = second, .key = "kim", .login = true, .state = "ACTIVE"}}},
      {"users_copy_logs_in_after_the_grant_is_removed",
       [&] { MustCli("grant remove " + grant_ids["kim"]); },
       {{.account = second, .key = "kim", .login = true, .state = "UNMANAGED"}}},
      {"rsa_key_principal_grant",
       [&] {
         Person("zoe", "zoe", "rsa");
         Grant("zoe", hosts + second);
       },
       {{.account = second, .key = "zoe", .login = true, .state = "ACTIVE"}}},
      {"paused_agent_key_revoked_still_in_the_file",
       [&] {
         granted_and_in("xena", "xena", user);
         ASSERT_EQ(kill(agent_, SIGSTOP), 0);
         MustCli("key revoke " + fps_["xena"] + " --reason matrix");
       },
       {{.account = user, .key = "xena", .login = true, .state = "PENDING_REMOVAL"}},
       false},
      {"paused_agent_grant_added",
       [&] {
         Person("yuri", "yuri");
         Grant("yuri", hosts + user);
       },
       {{.account = user, .key = "yuri", .login = false, .state = "PENDING_ADD"}},
       false},
      {"agent_resumed_converges",
       [&] { ASSERT_EQ(kill(agent_, SIGCONT), 0); },
       {{.account = user, .key = "xena", .login = false, .state = "NONE"},
        {.account = user, .key = "yuri", .login = true, .state = "ACTIVE"}}},
  };
  std::vector<std::pair<std::string, bool>> results = RunRows(rows);

  // Sub-minute expiry, once the written minute has passed and before the grant itself ends: sshd
  // refuses the line although the grant is still valid, and access says so.
  ASSERT_NE(floor_minute, 0);
  ASSERT_TRUE(WaitFor([&] { return std::time(nullptr) >= floor_minute + 2; }, 120));
  const bool in_window = std::time(nullptr) < floor_minute + 45;
  std::printf("[ note     ] sub-minute expiry checked %s the grant's own end\n",
              in_window ? "before" : "AFTER");
  std::vector<std::pair<std::string, bool>> late = RunRows({
      {"sub_minute_grant_expiry_enforced_at_the_minute",
       nullptr,
       {{.account = user,
         .key = "hank",
         .login = false,
         .state = in_window ? "ACTIVE" : "",
         .expires_at = in_window ? Utc(floor_minute) : ""}},
       false},
  });
  results.insert(results.end(), late.begin(), late.end());

  // Every (account, key) pair of the run once more: the row's expectation where a row named the
  // pair, no login anywhere else.
  const auto sweep_started = std::chrono::steady_clock::now();
  int pairs = 0;
  for (const std::string& account : {user, second, open_home, group_home, missing}) {
    for (const auto& [key, fp] : fps_) {
      auto it = model_.find({account, key});
      Expect e = it != model_.end() ? it->second : Expect{.account = account, .key = key};
      if (it == model_.end()) e.state = "NONE";
      if (key == "hank") {  // its grant may have ended since: the line is gone or expired
        e.state.clear();
        e.expires_at.clear();
      }
      SCOPED_TRACE("sweep");
      Check(e);
      ++pairs;
    }
  }
  std::printf(
      "[ sweep    ] %d (account, key) pairs in %.1fs\n", pairs,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_started).count());
  int passed = 0;
  for (const auto& [name, ok] : results) passed += ok;
  std::printf("[ matrix   ] %d/%zu rows passed\n", passed, results.size());
  EXPECT_GE(results.size(), 30u);
}

}  // namespace
}  // namespace keyfleet::testing
