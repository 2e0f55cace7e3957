#include "node-agent/journalctl_reader.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace keyfleet::agent {

JournalctlReader::JournalctlReader(JournalctlSettings settings)
    : settings_(std::move(settings)),
      backoff_(settings_.min_backoff),
      lines_(settings_.max_line_bytes) {}

JournalctlReader::~JournalctlReader() {
  Stop();
}

std::vector<std::string> JournalctlReader::Argv() const {
  std::vector<std::string> argv = {settings_.journalctl, "--follow",   "--output=json",
                                   "--lines=0",          "--no-pager", "--quiet"};
  argv.insert(argv.end(), settings_.matches.begin(), settings_.matches.end());
  return argv;
}

bool JournalctlReader::Spawn(absl::Time now) {
  const std::vector<std::string> args = Argv();
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // Only async-signal-safe calls from here: the agent has other threads.
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlives the thread that follows it
    if (getppid() != parent) _exit(127);
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(write_end.get(), 1) < 0 ||
        dup2(devnull, 2) < 0) {
      _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  out_ = std::move(read_end);
  child_ = pid;
  started_ = now;
  lines_.Reset();
  ++counters_.starts;
  return true;
}

void JournalctlReader::ChildEnded(absl::Time now) {
  ++counters_.exits;
  out_ = UniqueFd();
  lines_.Reset();
  // A child that ran a good while before it ended starts over at the shortest backoff.
  if (now - started_ > settings_.max_backoff) backoff_ = settings_.min_backoff;
  next_start_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, settings_.max_backoff);
}

void JournalctlReader::Poll(absl::Time now, const std::function<void(absl::string_view)>& on_line) {
  if (child_ < 0) {
    if (now < next_start_) return;
    if (!Spawn(now)) {
      ++counters_.spawn_errors;
      next_start_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, settings_.max_backoff);
      return;
    }
  }
  char buf[16384];
  size_t budget = settings_.max_read_bytes_per_poll;
  bool eof = false;
  while (budget > 0) {
    const ssize_t n = read(out_.get(), buf, std::min(sizeof(buf), budget));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // EAGAIN: nothing more for now
    if (n == 0) {
      eof = true;
      break;
    }
    budget -= static_cast<size_t>(n);
    counters_.overlong_lines +=
        lines_.Feed(absl::string_view(buf, static_cast<size_t>(n)), [&](absl::string_view line) {
          ++counters_.lines;
          on_line(line);
        });
  }
  int status = 0;
  if (eof || waitpid(child_, &status, WNOHANG) == child_) {
    if (eof) Stop();  // closed its output: make sure it is gone and reaped
    child_ = -1;
    ChildEnded(now);
  }
}

void JournalctlReader::Stop() {
  out_ = UniqueFd();
  if (child_ < 0) return;
  const pid_t pid = child_;
  child_ = -1;
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) return;
  kill(pid, SIGTERM);
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(settings_.stop_grace);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

}  // namespace keyfleet::agent
