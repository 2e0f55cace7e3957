// Agent no-op reconcile benchmark (not a ctest test). Builds a sandbox root with ACCOUNTS
// accounts (each with a home, a few unmanaged lines and K managed keys), applies the desired
// state once (writing every file), then times applying the same state again: it must write
// nothing. Must run as root (it chowns).
//
//   agent_reconcile [ACCOUNTS=1000] [KEYS_PER_ACCOUNT=5] [RUNS=10]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "node-agent/apply.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

int main(int argc, char** argv) {
  const int accounts = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int keys = argc > 2 ? std::atoi(argv[2]) : 5;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 10;
  if (geteuid() != 0) {
    std::fprintf(stderr, "run as root: the sandbox homes belong to other uids\n");
    return 2;
  }
  keyfleet::testing::ScopedTempDir dir("keyfleet-agent-bench");
  const std::string root = dir.path().string();
  std::filesystem::create_directories(root + "/etc");
  std::filesystem::create_directories(root + "/home");
  std::ofstream passwd(root + "/etc/passwd");
  keyfleet::v1::DesiredState desired;
  desired.set_generation(42);
  for (int i = 0; i < accounts; ++i) {
    const std::string name = "user" + std::to_string(i);
    const uid_t uid = 10000 + i;
    passwd << name << ":x:" << uid << ":" << uid << "::/home/" << name << ":/bin/sh\n";
    const std::string home = root + "/home/" + name;
    mkdir(home.c_str(), 0755);
    mkdir((home + "/.ssh").c_str(), 0700);
    std::ofstream(home + "/.ssh/authorized_keys")
        << "# the user's own\n"
        << keyfleet::testing::SyntheticEd25519Line(900000 + i) << "\n";
    if (chown((home + "/.ssh/authorized_keys").c_str(), uid, uid) != 0) {
      std::perror("chown");  // the figure would be of a host sshd refuses
      std::exit(1);
    }
    chmod((home + "/.ssh/authorized_keys").c_str(), 0600);
    if (chown((home + "/.ssh").c_str(), uid, uid) != 0) {
      std::perror("chown");  // the figure would be of a host sshd refuses
      std::exit(1);
    }
    if (chown(home.c_str(), uid, uid) != 0) {
      std::perror("chown");  // the figure would be of a host sshd refuses
      std::exit(1);
    }
    auto* account = desired.add_accounts();
    account->set_account(name);
    for (int k = 0; k < keys; ++k) {
      account->add_keys("restrict,expiry-time=\"203001010000Z\" " +
                        keyfleet::testing::SyntheticEd25519Line(i * 100 + k, name));
    }
  }
  passwd.close();
  keyfleet::agent::ApplySettings settings;
  settings.root = root;
  auto file = keyfleet::agent::PasswdFile::Load(root + "/etc/passwd");
  auto first = keyfleet::agent::ApplyDesiredState(desired, settings, *file);
  if (first.writes != accounts) {
    std::fprintf(stderr, "first apply wrote %d of %d\n", first.writes, accounts);
    return 1;
  }
  double best_ms = 1e9;
  int writes = 0;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto passwd_now = keyfleet::agent::PasswdFile::Load(root + "/etc/passwd");
    auto again = keyfleet::agent::ApplyDesiredState(desired, settings, *passwd_now);
    auto t1 = std::chrono::steady_clock::now();
    writes += again.writes;
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::printf("accounts=%d keys_per_account=%d noop_reconcile_best_ms=%.2f writes=%d\n", accounts,
              keys, best_ms, writes);
  return writes == 0 ? 0 : 1;
}
