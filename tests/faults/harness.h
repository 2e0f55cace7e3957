// What every fault scenario shares: the campaign's options, its working directory (removed at the
// end, kept when an invariant broke; removed with every child process killed if the campaign
// itself dies), the figures block each scenario prints, bounded waits and a seeded random source.
//
// Child processes are started with SpawnProcess (tests/support/child_process.h), which asks the
// kernel to SIGTERM them when the thread that started them ends: scenarios start children only
// from the main thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "tests/support/temp_postgres.h"

namespace keyfleet::faults {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct CampaignOptions {
  int rounds = 0;      // 0: each scenario's own default (or its quick one)
  bool quick = false;  // minimal rounds and loads: the ctest smoke run
  uint64_t seed = 0;
  std::string controller_binary;
  std::string agent_binary;
  std::string cli_binary;
  std::string prlimit_binary;
};

// Seconds from `from` to `to` (or now).
double SecondsBetween(Clock::time_point from, Clock::time_point to);
double SecondsSince(Clock::time_point from);

// Polls `done` every `every` until it holds or `limit` passed; whether it held.
bool WaitFor(const std::function<bool()>& done, milliseconds limit,
             milliseconds every = milliseconds(20));

// The file's content, "" when it cannot be read.
std::string ReadFile(const std::string& path);
// The last `bytes` of a file, for failure messages.
std::string Tail(const std::string& path, size_t bytes = 3000);

// "1.23 s"; "-" for a negative (never measured) value.
std::string Secs(double seconds);

// The campaign's working directory: /tmp/kf-faults.XXXXXX. A watchdog process (the one temp
// PostgreSQL servers use) kills this process's group — every child the campaign started — and
// removes the directory if the campaign dies without cleaning up (killed by ctest's timeout, or
// by hand). The campaign makes itself a process group leader for that.
class Workspace {
 public:
  Workspace();
  ~Workspace();  // removes the directory unless Keep()
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // A fresh subdirectory NAME (NAME-2, … when taken), created.
  std::string NewDir(const std::string& name);
  const std::string& path() const { return path_; }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  int watchdog_ = -1;
  bool keep_ = false;
};

// Removes a directory outside the workspace (an agent's sandbox root) if the campaign dies
// before its owner removes it.
class DirectoryWatchdog {
 public:
  explicit DirectoryWatchdog(const std::string& dir);
  ~DirectoryWatchdog();
  DirectoryWatchdog(const DirectoryWatchdog&) = delete;
  DirectoryWatchdog& operator=(const DirectoryWatchdog&) = delete;

 private:
  int pipe_ = -1;
};

// One scenario's figures and verdict. Printed as
//   NAME: figure, figure, … — ok
//     BROKEN: what broke            (each broken invariant)
//     note                          (details)
class Report {
 public:
  explicit Report(std::string scenario) : scenario_(std::move(scenario)) {}
  void Figure(const std::string& text) { figures_.push_back(text); }
  // Records `failure` as a broken invariant unless `holds`; returns `holds`.
  bool Check(bool holds, const std::string& failure);
  void Note(const std::string& text) { notes_.push_back(text); }
  bool ok() const { return broken_.empty(); }
  const std::string& scenario() const { return scenario_; }
  std::string Render(double took_seconds) const;

 private:
  std::string scenario_;
  std::vector<std::string> figures_;
  std::vector<std::string> broken_;
  std::vector<std::string> notes_;
};

// What a scenario gets: options, the working directory, randomness, a shared private PostgreSQL
// (made on first use; a scenario that restarts it leaves it running), and progress output.
class Campaign {
 public:
  Campaign(CampaignOptions options, Workspace& workspace);
  ~Campaign();

  const CampaignOptions& options() const { return options_; }
  Workspace& workspace() { return workspace_; }
  testing::TempPostgres& postgres();
  // rounds: --rounds when given, else `quick` with --quick, else `full`.
  int Rounds(int full, int quick) const;
  bool quick() const { return options_.quick; }

  // Uniform in [lo, hi].
  double Uniform(double lo, double hi);
  milliseconds UniformMs(int lo, int hi);

  // "[+12.3s NAME] what" on stderr: where a long run is.
  void Progress(const std::string& what);
  void BeginScenario(const std::string& name);

 private:
  CampaignOptions options_;
  Workspace& workspace_;
  std::unique_ptr<testing::TempPostgres> postgres_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  Clock::time_point start_ = Clock::now();
  std::string scenario_;
};

// Ends the campaign (exit 3, after saying where it was and copying the working directory to
// DIR.hang for the logs) if one scenario runs past `limit`: a hang is a finding, and the campaign
// must end anyway. Armed per scenario.
class HangGuard {
 public:
  HangGuard(const std::string& scenario, seconds limit, const std::string& workspace);
  ~HangGuard();
  HangGuard(const HangGuard&) = delete;
  HangGuard& operator=(const HangGuard&) = delete;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace keyfleet::faults
