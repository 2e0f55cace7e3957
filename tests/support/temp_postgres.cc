#include "tests/support/temp_postgres.h"

#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>

#include "tests/support/run_command.h"

namespace keyfleet::testing {
namespace {

[[noreturn]] void Die(const std::string& message, const std::string& log_path) {
  std::fprintf(stderr, "TempPostgres: %s\n", message.c_str());
  std::ifstream log(log_path);
  if (log) {
    std::stringstream ss;
    ss << log.rdbuf();
    std::fprintf(stderr, "--- server log (%s) ---\n%s\n", log_path.c_str(), ss.str().c_str());
  }
  std::abort();
}

// The newest /usr/lib/postgresql/N/bin with initdb, or the directory holding initdb in PATH.
std::string FindBinDir() {
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

}  // namespace

TempPostgres::TempPostgres() : dir_("keyfleet-pg") {
  const std::string root = dir_.path().string();
  data_dir_ = root + "/data";
  log_path_ = root + "/server.log";
  bin_dir_ = FindBinDir();
  if (bin_dir_.empty()) {
    Die("initdb not found; install the PostgreSQL server (deploy/install-deps.sh does)", "");
  }
  if (geteuid() == 0) {
    // PostgreSQL refuses to run as root: hand the directory to the postgres user.
    struct passwd* pw = getpwnam("postgres");
    if (pw == nullptr) Die("running as root but there is no `postgres` user", "");
    if (chown(root.c_str(), pw->pw_uid, pw->pw_gid) != 0) Die("cannot chown " + root, "");
    run_as_ = "runuser -u postgres -- ";
  }
  StartWatchdog();
  Run(bin_dir_ + "/initdb -D " + data_dir_ +
          " -U keyfleet --auth=trust --no-sync -E UTF8 --locale=C >" + root + "/initdb.log 2>&1",
      true);
  Start();
}

TempPostgres::~TempPostgres() {
  if (running_) Stop(/*immediate=*/true);
  if (watchdog_ > 0) {
    kill(watchdog_, SIGKILL);
    waitpid(watchdog_, nullptr, 0);
  }
}

void TempPostgres::StartWatchdog() {
  const std::string stop = run_as_ + bin_dir_ + "/pg_ctl -D " + data_dir_ +
                           " -m immediate stop >/dev/null 2>&1; rm -rf " + dir_.path().string();
  watchdog_ = fork();
  if (watchdog_ != 0) return;
  // The watchdog sleeps until its parent dies (PR_SET_PDEATHSIG), then cleans up.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGUSR1);
  if (getppid() == 1) _exit(0);  // the parent is already gone
  int sig = 0;
  sigwait(&set, &sig);
  execl("/bin/sh", "sh", "-c", stop.c_str(), nullptr);
  _exit(127);
}

std::string TempPostgres::Run(const std::string& command, bool must_succeed) {
  CommandResult r = RunCommand(run_as_ + command);
  if (must_succeed && r.exit_code != 0) {
    Die("command failed (exit " + std::to_string(r.exit_code) + "): " + command + "\n" + r.out,
        log_path_);
  }
  return r.out;
}

void TempPostgres::Start() {
  // Unix socket only, in our own directory: no TCP port, no clash with other servers.
  // fsync=off only speeds the tests up: a server *process* stop, even an immediate one,
  // loses nothing that was committed, which is what the restart tests exercise.
  Run(bin_dir_ + "/pg_ctl -D " + data_dir_ + " -l " + log_path_ +
          " -w -t 60 -o \"-c listen_addresses='' -k " + dir_.path().string() +
          " -c fsync=off -c max_connections=200\" start >/dev/null",
      true);
  running_ = true;
}

void TempPostgres::Stop(bool immediate) {
  Run(bin_dir_ + "/pg_ctl -D " + data_dir_ + " -w -t 60 -m " + (immediate ? "immediate" : "fast") +
          " stop >/dev/null",
      true);
  running_ = false;
}

std::string TempPostgres::RestoreCopy(const std::string& database) {
  const std::string copy = CreateDatabase();
  const std::string dump = dir_.path().string() + "/" + database + ".dump";
  const std::string socket = " -h " + dir_.path().string() + " -p 5432 -U keyfleet ";
  Run(bin_dir_ + "/pg_dump -Fc" + socket + "-f " + dump + " " + database, true);
  Run(bin_dir_ + "/pg_restore --exit-on-error" + socket + "-d " + copy + " " + dump, true);
  return copy;
}

std::string TempPostgres::Url(const std::string& database) const {
  return "host=" + dir_.path().string() + " port=5432 user=keyfleet dbname=" + database;
}

std::string TempPostgres::CreateDatabase() {
  std::string name = "kf_test_" + std::to_string(next_database_++);
  try {
    pqxx::connection conn(Url("postgres"));
    pqxx::nontransaction txn(conn);
    txn.exec0("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    Die(std::string("cannot create database: ") + e.what(), log_path_);
  }
  return name;
}

}  // namespace keyfleet::testing
