#include "tests/faults/harness.h"

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/temp_postgres_process.h"

namespace keyfleet::faults {
namespace {

// The last progress line, for a hang report.
std::mutex progress_mu;
std::string last_progress;  // guarded by progress_mu

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

double SecondsSince(Clock::time_point from) {
  return SecondsBetween(from, Clock::now());
}

bool WaitFor(const std::function<bool()>& done, milliseconds limit, milliseconds every) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path, size_t bytes) {
  const std::string text = ReadFile(path);
  return text.size() > bytes ? "…" + text.substr(text.size() - bytes) : text;
}

std::string Secs(double seconds) {
  if (seconds < 0) return "-";
  char out[32];
  std::snprintf(out, sizeof(out), seconds < 10 ? "%.2f s" : "%.1f s", seconds);
  return out;
}

Workspace::Workspace() {
  // The watchdog's cleanup kills this process group: make it ours alone (a shell with job
  // control already did; ctest did not).
  if (getpgrp() != getpid()) setpgid(0, 0);
  char name[] = "/tmp/kf-faults.XXXXXX";
  if (mkdtemp(name) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  path_ = name;
  chmod(path_.c_str(), 0755);
  watchdog_ = testing::StartPostgresWatchdog(
      absl::StrCat("kill -KILL -", getpgrp(), " 2>/dev/null; rm -rf ", ShellQuote(path_)));
}

Workspace::~Workspace() {
  testing::StopPostgresWatchdog(watchdog_);
  if (keep_) {
    std::fprintf(stderr, "fault campaign: logs kept in %s\n", path_.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string Workspace::NewDir(const std::string& name) {
  for (int i = 1; i < 1000; ++i) {
    const std::string dir = path_ + "/" + (i == 1 ? name : absl::StrCat(name, "-", i));
    if (mkdir(dir.c_str(), 0755) == 0) return dir;
  }
  std::fprintf(stderr, "fault campaign: cannot make a directory %s in %s\n", name.c_str(),
               path_.c_str());
  std::exit(1);
}

DirectoryWatchdog::DirectoryWatchdog(const std::string& dir)
    : pipe_(testing::StartPostgresWatchdog("rm -rf " + ShellQuote(dir))) {}

DirectoryWatchdog::~DirectoryWatchdog() {
  testing::StopPostgresWatchdog(pipe_);
}

bool Report::Check(bool holds, const std::string& failure) {
  if (!holds) broken_.push_back(failure);
  return holds;
}

std::string Report::Render(double took_seconds) const {
  std::string out =
      absl::StrCat(scenario_, ": ", absl::StrJoin(figures_, ", "), " — ",
                   broken_.empty() ? "ok" : "BROKEN", " (", Secs(took_seconds), ")\n");
  for (const std::string& b : broken_) absl::StrAppend(&out, "  BROKEN: ", b, "\n");
  for (const std::string& n : notes_) absl::StrAppend(&out, "  ", n, "\n");
  return out;
}

Campaign::Campaign(CampaignOptions options, Workspace& workspace)
    : options_(std::move(options)), workspace_(workspace), rng_(options_.seed) {}

Campaign::~Campaign() = default;

testing::TempPostgres& Campaign::postgres() {
  if (!postgres_) {
    Progress("starting the shared PostgreSQL");
    postgres_ = std::make_unique<testing::TempPostgres>();
  }
  return *postgres_;
}

int Campaign::Rounds(int full, int quick) const {
  if (options_.rounds > 0) return options_.rounds;
  return options_.quick ? quick : full;
}

double Campaign::Uniform(double lo, double hi) {
  std::lock_guard<std::mutex> lock(rng_mu_);
  return std::uniform_real_distribution<double>(lo, hi)(rng_);
}

milliseconds Campaign::UniformMs(int lo, int hi) {
  return milliseconds(static_cast<int>(Uniform(lo, hi)));
}

void Campaign::Progress(const std::string& what) {
  const std::string line =
      absl::StrCat("[+", Secs(SecondsSince(start_)), " ", scenario_, "] ", what);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::lock_guard<std::mutex> lock(progress_mu);
  last_progress = line;
}

void Campaign::BeginScenario(const std::string& name) {
  scenario_ = name;
}

struct HangGuard::State {
  std::mutex mu;
  std::condition_variable cv;
  bool disarmed = false;
};

HangGuard::HangGuard(const std::string& scenario, seconds limit, const std::string& workspace)
    : state_(std::make_shared<State>()) {
  std::thread([state = state_, scenario, limit, workspace] {
    std::unique_lock<std::mutex> lock(state->mu);
    if (state->cv.wait_for(lock, limit, [&] { return state->disarmed; })) return;
    std::string where;
    {
      std::lock_guard<std::mutex> progress(progress_mu);
      where = last_progress;
    }
    std::fprintf(stderr,
                 "fault campaign: %s ran past its bound of %lld s: a hang? last step: %s\n"
                 "fault campaign: logs copied to %s.hang; ending (its children and PostgreSQL "
                 "servers are cleaned up)\n",
                 scenario.c_str(), static_cast<long long>(limit.count()), where.c_str(),
                 workspace.c_str());
    const std::string copy =
        "cp -a " + ShellQuote(workspace) + " " + ShellQuote(workspace + ".hang");
    if (std::system(copy.c_str()) != 0) std::fprintf(stderr, "fault campaign: copy failed\n");
    std::fflush(nullptr);
    _exit(3);
  }).detach();
}

HangGuard::~HangGuard() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->disarmed = true;
  state_->cv.notify_all();
}

}  // namespace keyfleet::faults
