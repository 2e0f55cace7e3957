// The controller binary reading its CA directory and bootstrap token from Kubernetes secret
// volumes as the Helm chart mounts them (helm/keyfleet-controller): links into a "..data"
// directory on a read-only tmpfs, files root:FSGROUP 0440, run as uid 10001 with the fsGroup as
// a supplementary group (secret_volume_layout.sh lays them out as kubelet does). Migrations run
// first as the chart's hook Job runs them. And what stays refused: the same modes on a writable
// mount, and a pod without the fsGroup. Needs root (mounts, setpriv); labels packaging,
// postgres, tls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The chart's pod: runAsUser/runAsGroup 10001, fsGroup 10001.
constexpr char kPodUid[] = "10001";
constexpr char kFsGroup[] = "10001";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

CommandResult MustRun(const std::string& command) {
  CommandResult r = RunCommand(command + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.out;
  return r;
}

// The exit status of `pid` once it exits within `limit`; nullopt (and the process killed) if it
// is still running then.
std::optional<int> WaitForExit(pid_t pid, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  StopProcess(pid);
  return std::nullopt;
}

class SecretVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test must run as root: it mounts tmpfs secret volumes in a "
                                "private mount namespace and runs the controller as uid "
                             << kPodUid << " (run ctest as root, as deploy/test.sh does)";
    // The pod's uid must reach every path it is given: the temporary directory and the binary.
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    for (const char* dir : {"src-ca", "src-bootstrap", "ca", "bootstrap"}) {
      fs::create_directory(root_ / dir);
    }
    // The CA and audit key as an operator makes them for the chart
    // (helm/keyfleet-controller/values.yaml): init-ca makes both.
    MustRun(std::string(KEYFLEET_CONTROLLER) + " init-ca --ca-dir " + Path("src-ca"));
    ASSERT_TRUE(fs::exists(root_ / "src-ca" / "audit.key")) << "init-ca makes the audit key";
    token_ = Trimmed(MustRun(std::string(KEYFLEET_CONTROLLER) + " bootstrap-token").out);
    std::ofstream(root_ / "src-bootstrap" / "bootstrap.token") << token_ << "\n";
  }

  std::string Path(const std::string& relative) const { return (root_ / relative).string(); }

  // The controller as the chart's pod runs it: secret volumes at ca/ and bootstrap/, uid 10001
  // with `groups` as its supplementary groups, no capabilities.
  pid_t SpawnController(const std::string& access, const std::string& fsgroup,
                        const std::string& groups, const std::vector<std::string>& serve) {
    std::vector<std::string> argv = {
        "/usr/bin/unshare", "--mount",       "--propagation", "private",
        "/bin/sh",          KEYFLEET_LAYOUT, fsgroup,         access};
    for (const char* volume : {"ca", "bootstrap"}) {
      argv.push_back(Path(std::string("src-") + volume));
      argv.push_back(Path(volume));
    }
    argv.insert(argv.end(),
                {"--", "/usr/bin/setpriv", std::string("--reuid=") + kPodUid,
                 std::string("--regid=") + kPodUid, "--groups=" + groups, "--inh-caps=-all",
                 "--bounding-set=-all", KEYFLEET_CONTROLLER, "serve", "--ca-dir", Path("ca"),
                 "--bootstrap-token-file", Path("bootstrap/bootstrap.token")});
    argv.insert(argv.end(), serve.begin(), serve.end());
    return SpawnProcess(argv, Path("controller.log"));
  }

  ScopedTempDir temp_{"keyfleet-secret-volume"};
  const fs::path root_ = temp_.path();
  std::string token_;
};

TEST_F(SecretVolumeTest, TheControllerServesFromReadOnlySecretVolumes) {
  TempPostgres pg;
  // The pod's uid connects through the server's socket directory, as a pod through the network.
  ASSERT_EQ(chmod(pg.socket_dir().c_str(), 0711), 0);
  const std::string db = pg.Url(pg.CreateDatabase());
  const auto start = std::chrono::steady_clock::now();
  // The chart's migration hook Job: `migrate` with the database from the environment.
  MustRun("KEYFLEET_DB='" + db + "' setpriv --reuid=" + kPodUid + " --regid=" + kPodUid +
          " --clear-groups " + KEYFLEET_CONTROLLER + " migrate");
  const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const pid_t controller =
      SpawnController("ro", kFsGroup, kFsGroup,
                      {"--db", db, "--listen", address, "--tls-name", "127.0.0.1", "--no-migrate"});
  ASSERT_GT(controller, 0);
  const std::string cli = "KEYFLEET_TOKEN=" + token_ + " HOME=/nonexistent " + KEYFLEET_CLI +
                          " --controller " + address + " --ca " + Path("src-ca/ca.crt");
  CommandResult whoami;
  for (int i = 0; i < 150; ++i) {
    whoami = RunCommand(cli + " whoami 2>&1");
    if (whoami.exit_code == 0) break;
    int status = 0;
    if (waitpid(controller, &status, WNOHANG) == controller) {
      FAIL() << "the controller exited (status " << status << "):\n"
             << ReadFile(root_ / "controller.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("migrated, started and answered in %.2f s\n", seconds);
  EXPECT_EQ(whoami.exit_code, 0) << whoami.out << "\n" << ReadFile(root_ / "controller.log");
  EXPECT_THAT(whoami.out, HasSubstr("token:bootstrap")) << "the token came from the secret file";
  // The pin NOTES.txt tells operators to compute from the CA secret's ca.crt.
  const std::string pin =
      "sha256:" + Trimmed(MustRun("openssl x509 -noout -pubkey -in " + Path("src-ca/ca.crt") +
                                  " | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' "
                                  "-f1")
                              .out);
  CommandResult join = MustRun(cli + " host token create");
  EXPECT_THAT(join.out, HasSubstr("--ca-hash " + pin)) << join.out;
  const std::string log = ReadFile(root_ / "controller.log");
  EXPECT_THAT(log, HasSubstr("TLS with a certificate for 127.0.0.1")) << log;
  StopProcess(controller);
}

TEST_F(SecretVolumeTest, TheSameModesOnAWritableMountAreRefused) {
  const pid_t controller = SpawnController(
      "rw", kFsGroup, kFsGroup, {"--db", "host=/nonexistent", "--listen", "127.0.0.1:1"});
  ASSERT_GT(controller, 0);
  std::optional<int> status = WaitForExit(controller, std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "the controller kept running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_THAT(ReadFile(root_ / "controller.log"),
              HasSubstr("ca.key is a symbolic link; refusing to follow it (" + Path("ca") +
                        " is writable by group or others (mode 3777)"));
}

TEST_F(SecretVolumeTest, APodWithoutTheFsGroupCannotReadTheKey) {
  // Without an fsGroup the files stay root:root 0400, which no other uid can open.
  const pid_t controller = SpawnController(
      "ro", "none", kPodUid, {"--db", "host=/nonexistent", "--listen", "127.0.0.1:1"});
  ASSERT_GT(controller, 0);
  std::optional<int> status = WaitForExit(controller, std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "the controller kept running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_THAT(ReadFile(root_ / "controller.log"), HasSubstr("ca.key: Permission denied"));
}

}  // namespace
}  // namespace keyfleet::testing
