#include "tests/support/temp_postgres.h"

#include <pqxx/pqxx>

#include "tests/support/temp_postgres_process.h"

namespace keyfleet::testing {

TempPostgres::TempPostgres() : dir_("keyfleet-pg") {
  const std::string root = dir_.path().string();
  data_dir_ = root + "/data";
  log_path_ = root + "/server.log";
  bin_dir_ = FindPostgresBinDir();
  if (bin_dir_.empty()) {
    PostgresDie("TempPostgres",
                "initdb not found; install the PostgreSQL server (deploy/install-deps.sh does)",
                "");
  }
  run_as_ = PostgresRunAs(root);
  // Stops the server and removes the directory if this process dies without running the
  // destructor (killed by a ctest timeout, say).
  watchdog_ = StartPostgresWatchdog(run_as_ + bin_dir_ + "/pg_ctl -D " + data_dir_ +
                                    " -m immediate stop >/dev/null 2>&1; rm -rf " + root);
  Run(bin_dir_ + "/initdb -D " + data_dir_ +
          " -U keyfleet --auth=trust --no-sync -E UTF8 --locale=C >" + root + "/initdb.log 2>&1",
      true);
  Start();
}

TempPostgres::~TempPostgres() {
  if (running_) Stop(/*immediate=*/true);
  StopPostgresWatchdog(watchdog_);
}

std::string TempPostgres::Run(const std::string& command, bool must_succeed) {
  return RunPostgresCommand("TempPostgres", run_as_, command, must_succeed, log_path_);
}

void TempPostgres::Start() {
  // Unix socket only, in our own directory: no TCP port, no clash with other servers.
  // fsync=off only speeds the tests up: a server *process* stop, even an immediate one,
  // loses nothing that was committed, which is what the restart tests exercise.
  Run(bin_dir_ + "/pg_ctl -D " + data_dir_ + " -l " + log_path_ +
          " -w -t 60 -o \"-c listen_addresses='' -k " + dir_.path().string() + " -p " +
          std::to_string(kPort) + " -c fsync=off -c max_connections=200\" start >/dev/null",
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
  const std::string socket =
      " -h " + dir_.path().string() + " -p " + std::to_string(kPort) + " -U keyfleet ";
  Run(bin_dir_ + "/pg_dump -Fc" + socket + "-f " + dump + " " + database, true);
  Run(bin_dir_ + "/pg_restore --exit-on-error" + socket + "-d " + copy + " " + dump, true);
  return copy;
}

std::string TempPostgres::Url(const std::string& database) const {
  return "host=" + dir_.path().string() + " port=" + std::to_string(kPort) +
         " user=keyfleet dbname=" + database;
}

std::string TempPostgres::CreateDatabase() {
  std::string name = "kf_test_" + std::to_string(next_database_++);
  try {
    pqxx::connection conn(Url("postgres"));
    pqxx::nontransaction txn(conn);
    txn.exec0("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    PostgresDie("TempPostgres", std::string("cannot create database: ") + e.what(), log_path_);
  }
  return name;
}

}  // namespace keyfleet::testing
