// `keyfleet known-hosts` end to end, with real parts only: PostgreSQL, the controller binary
// (TLS, its own CA), one agent enrolled with a join token whose ROOT/etc/ssh/ssh_host_*_key.pub
// are the host keys a real sshd on a loopback port serves, and the real ssh client: with the
// exported file as its only known_hosts and StrictHostKeyChecking=yes, ssh logs in (plain names,
// hashed names, and the [NAME]:PORT form of --port); with a file holding another key for the
// name, or none, it refuses. Labels: sshd, tls. The account and sshd are created and removed by
// the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// "TYPE BASE64" of a .pub file's line (its comment dropped).
std::string KeyText(const std::string& pub_path) {
  std::vector<std::string> fields = absl::StrSplit(ReadText(pub_path), absl::ByAnyChar(" \n"));
  return fields.size() >= 2 ? fields[0] + " " + fields[1] : "";
}

class KnownHostsSshdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = pg_.Url(pg_.CreateDatabase());
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    ca_dir_ = sshd_.dir() + "/ca";
    // The agent's root: its /etc/ssh holds the public half of the key sshd serves.
    root_ = sshd_.dir() + "/root";
    std::filesystem::create_directories(root_ + "/etc/ssh");
    std::filesystem::copy_file(sshd_.dir() + "/host_key.pub",
                               root_ + "/etc/ssh/ssh_host_ed25519_key.pub");
    controller_ = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--db", db_, "--listen", address_, "--ca-dir", ca_dir_, "--tls-name",
         "127.0.0.1", "--bootstrap-token-file", AdminTokenFile(), "--log-level", "warn"},
        sshd_.dir() + "/controller.log");
    ASSERT_TRUE(WaitFor([&] { return Cli("principal list").exit_code == 0; }))
        << ReadText(sshd_.dir() + "/controller.log");
    nlohmann::json token =
        Json("host token create --hostname " + std::string(kHost) + " --labels env=kh --ttl 10m");
    ASSERT_TRUE(token.is_object());
    CommandResult enrolled =
        EnrollAgentBinary(KEYFLEET_AGENT, address_, token["token"].get<std::string>(),
                          token["ca_pin"].get<std::string>(), sshd_.dir() + "/agent-tls");
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    agent_ = SpawnProcess(
        {KEYFLEET_AGENT, "run", "--controller", address_, "--tls-dir", sshd_.dir() + "/agent-tls",
         "--root", root_, "--cache", sshd_.dir() + "/agent-cache", "--recheck-interval", "2s",
         "--log-level", "warn"},
        sshd_.dir() + "/agent.log");
    ASSERT_TRUE(WaitFor([&] {
      nlohmann::json h = Json("host show " + std::string(kHost));
      return h.is_object() && h.contains("host_public_keys") && !h["host_public_keys"].empty();
    })) << "the agent never reported its host keys; its log:\n"
        << ReadText(sshd_.dir() + "/agent.log");
    // The login key, put in the account's own file (keyfleet's agent here writes under root_).
    ASSERT_TRUE(sshd_.AddAuthorizedKeys(sshd_.user(), {sshd_.NewKey("login")}));
  }
  void TearDown() override {
    StopProcess(agent_);
    StopProcess(controller_);
  }

  std::string AdminTokenFile() const { return sshd_.dir() + "/bootstrap.token"; }
  std::string CliCommand(const std::string& args) const {
    return KeyfleetCliCommand(KEYFLEET_CLI, address_, ca_dir_ + "/ca.crt", AdminTokenFile(), args);
  }
  CommandResult Cli(const std::string& args) { return RunCommand(CliCommand(args) + " 2>&1"); }
  nlohmann::json Json(const std::string& args) {
    CommandResult r = RunCommand(CliCommand("-o json " + args) + " 2>/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // `keyfleet known-hosts ARGS` written to DIR/NAME; returns the file's path.
  std::string Export(const std::string& name, const std::string& args) {
    const std::string path = sshd_.dir() + "/" + name;
    CommandResult r = RunCommand(CliCommand("known-hosts " + args) + " > " + path + " 2>" + path +
                                 ".stderr; echo $?");
    EXPECT_EQ(r.out, "0\n") << ReadText(path + ".stderr");
    return path;
  }
  // ssh with `known_hosts` as its only known_hosts file, StrictHostKeyChecking=yes, and the name
  // it looks the host key up by set to `alias`; true when `echo in` ran. `err` gets stderr.
  bool StrictLogin(const std::string& known_hosts, const std::string& alias,
                   std::string* err = nullptr) {
    const std::string err_path = sshd_.dir() + "/ssh.stderr";
    CommandResult r = RunCommand(
        "ssh -F /dev/null -p " + std::to_string(sshd_.port()) + " -i " + sshd_.dir() +
        "/login -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
        " -o UserKnownHostsFile=" +
        known_hosts +
        " -o GlobalKnownHostsFile=/dev/null -o CheckHostIP=no -o UpdateHostKeys=no"
        " -o 'HostKeyAlias=" +
        alias + "' -o ConnectTimeout=10 " + sshd_.user() + "@127.0.0.1 echo in 2>" + err_path);
    if (err != nullptr) *err = ReadText(err_path);
    return r.exit_code == 0 && r.out == "in\n";
  }
  static bool WaitFor(const std::function<bool()>& pred) {
    for (int i = 0; i < 150; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
  }

  static constexpr char kHost[] = "kf-known-host";
  TempPostgres pg_;
  SshdFixture sshd_;
  std::string db_, address_, ca_dir_, root_;
  pid_t controller_ = -1, agent_ = -1;
};

TEST_F(KnownHostsSshdTest, TheExportedFileLetsStrictSshConnect) {
  const std::string host_key = KeyText(sshd_.dir() + "/host_key.pub");
  ASSERT_THAT(host_key, StartsWith("ssh-ed25519 "));
  // The agent reported the key sshd serves; `host show` has it.
  nlohmann::json host = Json("host show " + std::string(kHost));
  ASSERT_EQ(host["host_public_keys"].size(), 1u) << host.dump();
  EXPECT_EQ(host["host_public_keys"][0], host_key);
  EXPECT_THAT(Cli("host show " + std::string(kHost)).out, HasSubstr(host_key));

  // Plain names.
  const std::string plain = Export("plain", "--hosts env=kh");
  EXPECT_EQ(ReadText(plain), std::string(kHost) + " " + host_key + "\n");
  std::string err;
  EXPECT_TRUE(StrictLogin(plain, kHost, &err)) << err << sshd_.Log();

  // Hashed names: the file does not name the host, and ssh still finds it.
  const std::string hashed = Export("hashed", "--hash");
  EXPECT_THAT(ReadText(hashed), StartsWith("|1|"));
  EXPECT_THAT(ReadText(hashed), Not(HasSubstr(kHost)));
  EXPECT_THAT(ReadText(hashed), HasSubstr(host_key));
  EXPECT_TRUE(StrictLogin(hashed, kHost, &err)) << err;
  CommandResult found = RunCommand("ssh-keygen -F " + std::string(kHost) + " -f " + hashed);
  EXPECT_EQ(found.exit_code, 0) << found.out;

  // --port: the name as ssh looks up a host on another port, plain and hashed.
  const std::string port = std::to_string(sshd_.port());
  const std::string with_port =
      Export("with-port", "--hosts " + std::string(kHost) + " --port " + port);
  EXPECT_EQ(ReadText(with_port), "[" + std::string(kHost) + "]:" + port + " " + host_key + "\n");
  const std::string alias = "[" + std::string(kHost) + "]:" + port;
  EXPECT_TRUE(StrictLogin(with_port, alias, &err)) << err;
  EXPECT_FALSE(StrictLogin(with_port, kHost)) << "port 22's name is another entry";
  const std::string hashed_port = Export("hashed-port", "--hash --port " + port);
  EXPECT_TRUE(StrictLogin(hashed_port, alias, &err)) << err;

  // A selector that selects nothing gives an empty file: ssh refuses the unknown host.
  const std::string none = Export("none", "--hosts env=elsewhere");
  EXPECT_EQ(ReadText(none), "");
  EXPECT_FALSE(StrictLogin(none, kHost));

  // Another key under the host's name: ssh refuses (the host key "changed").
  CommandResult other =
      RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + sshd_.dir() + "/other_host_key");
  ASSERT_EQ(other.exit_code, 0);
  const std::string wrong = sshd_.dir() + "/wrong";
  std::ofstream(wrong) << kHost << " " << KeyText(sshd_.dir() + "/other_host_key.pub") << "\n";
  EXPECT_FALSE(StrictLogin(wrong, kHost, &err));
  EXPECT_THAT(err, HasSubstr("HOST IDENTIFICATION HAS CHANGED"));
}

}  // namespace
}  // namespace keyfleet::testing
