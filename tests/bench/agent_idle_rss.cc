// Agent idle memory benchmark (not a ctest test; as root). Starts a private PostgreSQL, the
// real keyfleet-controller (TLS, its own CA) and the real keyfleet-agent (enrolled with a join
// token, `run` over mTLS on a sandbox root, watching), grants one key to one account, waits until
// the agent is idle (re-checking every second), and prints the agent's memory: RSS (which counts
// every shared-library page it touched), PSS and private memory, and on stderr its RSS per mapped
// object.
//
//   agent_idle_rss CONTROLLER_BINARY AGENT_BINARY [SETTLE_SECONDS=5]
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/tls/x509.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "node-agent/host_credentials.h"
#include "tests/support/admin_setup.h"
#include "tests/support/child_process.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"
#include "tests/support/tls_fleet.h"

using keyfleet::testing::ReadMemoryUse;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CONTROLLER_BINARY AGENT_BINARY [SETTLE_SECONDS]\n", argv[0]);
    return 2;
  }
  const int settle = argc > 3 ? std::atoi(argv[3]) : 5;
  keyfleet::testing::TempPostgres pg;
  keyfleet::testing::ScopedTempDir dir("keyfleet-agent-rss");
  const std::string root = dir.path().string();
  std::filesystem::create_directories(root + "/etc");
  std::filesystem::create_directories(root + "/home/alice");
  std::ofstream(root + "/etc/passwd") << "alice:x:2001:2001::/home/alice:/bin/sh\n";
  // A host with node_exporter: the agent keeps its metrics textfile there (and the figure
  // includes writing it).
  std::filesystem::create_directories(root + "/var/lib/prometheus/node-exporter");
  if (chown((root + "/home/alice").c_str(), 2001, 2001) != 0) {
    std::perror("chown");  // the figure would be of a host sshd refuses
    std::exit(1);
  }
  absl::StatusOr<keyfleet::testing::BenchController> started =
      keyfleet::testing::StartBenchController(argv[1], pg.Url(pg.CreateDatabase()), root,
                                              /*mtls=*/true);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  const pid_t controller = started->pid;
  const std::string& address = started->address;
  const std::string& ca_pem = started->ca_pem;
  auto channel = started->admin_channel;
  auto admin = keyfleet::v1::AdminService::NewStub(channel);
  absl::StatusOr<std::string> token = keyfleet::testing::CreateJoinToken(*admin, "bench-1", {});
  absl::StatusOr<keyfleet::agent::HostCredentials> enrolled =
      token.ok() ? keyfleet::agent::Enroll(
                       {{address}, *token, *keyfleet::tls::CertificatePin(ca_pem), "", root + "/tls"})
                 : absl::StatusOr<keyfleet::agent::HostCredentials>(token.status());
  if (!enrolled.ok()) {
    std::fprintf(stderr, "enrollment: %s\n", enrolled.status().ToString().c_str());
    return 1;
  }
  keyfleet::v1::HostSelector every_host;
  every_host.set_hostname_glob("*");
  absl::StatusOr<keyfleet::v1::AddKeysResponse> added = keyfleet::testing::AddPrincipalWithGrant(
      *admin, "alice", {keyfleet::testing::SyntheticEd25519Line(1)}, every_host, "alice");
  if (!added.ok()) {
    std::fprintf(stderr, "inventory set-up: %s\n", added.status().ToString().c_str());
    return 1;
  }
  pid_t agent = keyfleet::testing::SpawnProcess(
      {argv[2], "run", "--controller", address, "--tls-dir", root + "/tls", "--root", root,
       "--cache", root + "/agent-cache", "--log-level", "warn", "--recheck-interval", "1s"},
      root + "/agent.log");
  const std::string file = root + "/home/alice/.ssh/authorized_keys";
  for (int i = 0; i < 200 && !std::filesystem::exists(file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!std::filesystem::exists(file)) {
    std::fprintf(stderr, "the agent did not write the file\n");
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(settle));
  keyfleet::testing::MemoryUse use = ReadMemoryUse(agent);
  std::fputs(keyfleet::testing::RssByObject(agent).c_str(), stderr);
  std::printf("agent_idle_rss_kib=%ld pss_kib=%ld private_kib=%ld anonymous_kib=%ld\n", use.rss_kib,
              use.pss_kib, use.private_kib, use.anonymous_kib);
  keyfleet::testing::StopProcess(agent);
  keyfleet::testing::StopProcess(controller);
  return 0;
}
