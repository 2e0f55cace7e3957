// Login-time key lookup for an account with few and with many keys (issue 18), measured with a
// real sshd on loopback and real `ssh -o BatchMode=yes … true` logins:
//   file      sshd reads ~/.ssh/authorized_keys
//   central   sshd reads ROOT/etc/ssh/keyfleet/authorized_keys/%u (the same scan, another path)
//   index     AuthorizedKeysCommand keyfleet-agent … %u --fingerprint %f (the keys index)
//   cache     AuthorizedKeysCommand keyfleet-agent … %u (every line, from the agent's cache)
// The offered key is the last line (the worst case for sshd's linear scan). Also times the
// command alone (fork + exec + lookup). Prints median and p95 per case. Needs root.
//
//   key_lookup AGENT_BINARY [SIZES=10,10000] [LOGINS=30] [COMMAND_RUNS=200]
//
// 10,000 keys is more than the agent writes for one account (kMaxManagedKeysPerAccount), so
// the files, the index and the cache are written here directly, as the agent would lay them
// out.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "keyfleet/v1/agent.pb.h"
#include "node-agent/cache.h"
#include "node-agent/keys_index.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/test_keys.h"

namespace {

using keyfleet::testing::RunCommand;
using keyfleet::testing::ScopedTempDir;
using keyfleet::testing::SshdFixture;
using Clock = std::chrono::steady_clock;

constexpr double kMaxSecondsPerCase = 120;

struct Figures {
  double median_ms = 0;
  double p95_ms = 0;
  int runs = 0;
};

Figures Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Figures f;
  f.runs = static_cast<int>(ms.size());
  if (ms.empty()) return f;
  f.median_ms = ms[ms.size() / 2];
  f.p95_ms = ms[std::min(ms.size() - 1, static_cast<size_t>(ms.size() * 0.95))];
  return f;
}

// Times `run` up to `count` times or kMaxSecondsPerCase; aborts when one fails.
template <typename F>
Figures Time(int count, F run, const std::string& what) {
  std::vector<double> ms;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    if (!run()) {
      std::fprintf(stderr, "%s failed\n", what.c_str());
      std::exit(1);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (std::chrono::duration<double>(Clock::now() - start).count() > kMaxSecondsPerCase) break;
  }
  return Summarize(ms);
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode, uid_t uid) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  if (chmod(path.c_str(), mode) != 0 || chown(path.c_str(), uid, uid) != 0) std::exit(1);
}

void Print(const char* kase, size_t keys, const Figures& f) {
  std::printf("%-8s %6zu keys  median %7.2f ms  p95 %7.2f ms  (%d runs)\n", kase, keys, f.median_ms,
              f.p95_ms, f.runs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || geteuid() != 0) {
    std::fprintf(stderr, "usage (as root): key_lookup AGENT_BINARY [SIZES] [LOGINS] [RUNS]\n");
    return 2;
  }
  char resolved[PATH_MAX];
  // sshd wants an absolute path, root-owned all the way up.
  if (realpath(argv[1], resolved) == nullptr) return 2;
  const std::string agent = resolved;
  std::vector<size_t> sizes = {10, 10000};
  if (argc > 2) {
    sizes.clear();
    for (absl::string_view s : absl::StrSplit(argv[2], ',')) {
      size_t n = 0;
      if (!absl::SimpleAtoi(s, &n) || n == 0) return 2;
      sizes.push_back(n);
    }
  }
  int logins = 30;
  int command_runs = 200;
  if (argc > 3 && !absl::SimpleAtoi(argv[3], &logins)) return 2;
  if (argc > 4 && !absl::SimpleAtoi(argv[4], &command_runs)) return 2;

  for (size_t n : sizes) {
    // Paths sshd and the command accept: every directory root-owned and not world-writable.
    ScopedTempDir root("keyfleet-lookup-bench", "/run");
    const std::string r = root.path().string();
    chmod(r.c_str(), 0755);
    for (const char* d :
         {"etc", "etc/ssh", "etc/ssh/keyfleet", "etc/ssh/keyfleet/authorized_keys", "index"}) {
      mkdir((r + "/" + d).c_str(), 0755);
    }
    std::vector<std::string> lines;
    for (size_t i = 0; i + 1 < n; ++i) {
      lines.push_back(keyfleet::testing::SyntheticEd25519Line(i, "bench"));
    }
    auto with_key = [&](const std::string& key) {
      std::vector<std::string> all = lines;
      all.push_back(key);
      return all;
    };
    auto file_of = [](const std::vector<std::string>& all) {
      std::string out;
      for (const std::string& l : all) out += l + "\n";
      return out;
    };

    {  // (a) the plain home file
      SshdFixture sshd(".ssh/authorized_keys");
      const std::string key = sshd.NewKey("k");
      if (!sshd.AddAuthorizedKeys(sshd.user(), with_key(key))) return 1;
      Print("file", n,
            Time(
                logins, [&] { return sshd.Login("k", "true"); }, "file login"));
    }
    {  // (b) the central file
      SshdFixture sshd(r + "/etc/ssh/keyfleet/authorized_keys/%u");
      const std::string key = sshd.NewKey("k");
      WriteFile(r + "/etc/ssh/keyfleet/authorized_keys/" + sshd.user(), file_of(with_key(key)),
                0644, 0);
      Print("central", n,
            Time(
                logins, [&] { return sshd.Login("k", "true"); }, "central login"));
    }
    {  // (c) the command with the index, and the command alone
      SshdFixture sshd(
          "none", {"AuthorizedKeysCommand " + agent + " authorized-keys-command --index-dir " + r +
                       "/index %u --fingerprint %f",
                   "AuthorizedKeysCommandUser root"});
      const std::string key = sshd.NewKey("k");
      absl::StatusOr<std::string> index = keyfleet::agent::BuildKeysIndex(with_key(key));
      if (!index.ok()) return 1;
      WriteFile(r + "/index/" + sshd.user(), *index, 0644, 0);
      Print("index", n,
            Time(
                logins, [&] { return sshd.Login("k", "true"); }, "index login"));
      const std::string command = agent + " authorized-keys-command --index-dir " + r + "/index " +
                                  sshd.user() + " --fingerprint " + sshd.Fingerprint("k") +
                                  " >/dev/null";
      Print("cmd-idx", n,
            Time(
                command_runs, [&] { return RunCommand(command).exit_code == 0; }, command));
    }
    {  // (d) the command without --fingerprint: every line, from the cache
      SshdFixture sshd("none", {"AuthorizedKeysCommand " + agent +
                                    " authorized-keys-command --cache " + r + "/cache %u",
                                "AuthorizedKeysCommandUser root"});
      const std::string key = sshd.NewKey("k");
      keyfleet::v1::DesiredState state;
      state.set_generation(1);
      keyfleet::v1::AccountKeys* account = state.add_accounts();
      account->set_account(sshd.user());
      for (const std::string& l : with_key(key)) account->add_keys(l);
      if (!keyfleet::agent::DesiredStateCache(r + "/cache").Save(state).ok()) return 1;
      Print("cache", n,
            Time(
                logins, [&] { return sshd.Login("k", "true"); }, "cache login"));
      const std::string command =
          agent + " authorized-keys-command --cache " + r + "/cache " + sshd.user() + " >/dev/null";
      Print("cmd-all", n,
            Time(
                command_runs, [&] { return RunCommand(command).exit_code == 0; }, command));
    }
  }
  return 0;
}
