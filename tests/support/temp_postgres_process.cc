#include "tests/support/temp_postgres_process.h"

#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/run_command.h"

namespace keyfleet::testing {

std::string FindPostgresBinDir() {
  glob_t g{};
  std::string best;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::string p = g.gl_pathv[i];
      std::string dir = p.substr(0, p.size() - std::string("/initdb").size());
      if (best.empty() || dir.size() > best.size() || dir > best) best = dir;
    }
  }
  globfree(&g);
  if (!best.empty()) return best;
  CommandResult which = RunCommand("command -v initdb");
  if (which.exit_code == 0 && !which.out.empty()) {
    std::string p = which.out.substr(0, which.out.find('\n'));
    return p.substr(0, p.rfind('/'));
  }
  return "";
}

std::string PostgresRunAs(const std::string& dir) {
  if (geteuid() != 0) return "";
  struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr)
    PostgresDie("TempPostgres", "running as root but there is no `postgres` user", "");
  if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    PostgresDie("TempPostgres", "cannot hand " + dir + " to the postgres user", "");
  }
  return "runuser -u postgres -- ";
}

void PostgresDie(const std::string& who, const std::string& message, const std::string& log_path) {
  std::fprintf(stderr, "%s: %s\n", who.c_str(), message.c_str());
  std::ifstream log(log_path);
  if (!log_path.empty() && log) {
    std::stringstream ss;
    ss << log.rdbuf();
    std::fprintf(stderr, "--- server log (%s) ---\n%s\n", log_path.c_str(), ss.str().c_str());
  }
  std::abort();
}

std::string RunPostgresCommand(const std::string& who, const std::string& run_as,
                               const std::string& command, bool must_succeed,
                               const std::string& log_path) {
  CommandResult r = RunCommand(run_as + command);
  if (must_succeed && r.exit_code != 0) {
    PostgresDie(
        who, "command failed (exit " + std::to_string(r.exit_code) + "): " + command + "\n" + r.out,
        log_path);
  }
  return r.out;
}

int StartPostgresWatchdog(const std::string& cleanup) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    PostgresDie("TempPostgres", "cannot make the watchdog's pipe", "");
  }
  const pid_t middle = fork();
  if (middle < 0) PostgresDie("TempPostgres", "cannot fork the watchdog", "");
  if (middle == 0) {
    // The watchdog must outlive this process and whatever ends its process tree (ctest's timeout
    // kills the test's children too): a grandchild in its own session, reparented to init.
    setsid();
    if (fork() != 0) _exit(0);
    // Only the pipe's read end stays open (as stdin): another server's watchdog must not hold
    // this one's write end, or this one would never see this process end.
    dup2(pipe_fds[0], 0);
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    close_range(3, ~0U, 0);
    // End of file: every copy of the write end is closed, so this process is gone (however it
    // ended). A byte: StopPostgresWatchdog, nothing to clean.
    char disarmed;
    ssize_t n;
    do {
      n = read(0, &disarmed, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) _exit(0);
    execl("/bin/sh", "sh", "-c", cleanup.c_str(), nullptr);
    _exit(127);
  }
  close(pipe_fds[0]);
  waitpid(middle, nullptr, 0);
  return pipe_fds[1];
}

void StopPostgresWatchdog(int watchdog) {
  if (watchdog < 0) return;
  const char disarm = 'x';
  if (write(watchdog, &disarm, 1) != 1) {
    std::fprintf(stderr, "TempPostgres: cannot disarm a watchdog; it will clean up anyway\n");
  }
  close(watchdog);
}

}  // namespace keyfleet::testing
