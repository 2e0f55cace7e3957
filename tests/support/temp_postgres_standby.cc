#include "tests/support/temp_postgres_standby.h"

#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "tests/support/temp_postgres_process.h"

namespace keyfleet::testing {
namespace {

constexpr char kWho[] = "TempPostgresStandby";
constexpr auto kSyncWait = std::chrono::seconds(30);

// The primary's view of its standby: "sync" once it waits for it at every commit.
std::string SyncState(const TempPostgres& primary) {
  try {
    pqxx::connection conn(primary.Url("postgres"));
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec("SELECT sync_state FROM pg_stat_replication");
    return r.empty() ? "" : r[0][0].as<std::string>();
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

}  // namespace

TempPostgresStandby::TempPostgresStandby(TempPostgres& primary) : dir_("keyfleet-pg-standby") {
  const std::string root = dir_.path().string();
  data_dir_ = root + "/data";
  log_path_ = root + "/server.log";
  bin_dir_ = primary.bin_dir();
  run_as_ = PostgresRunAs(root);
  watchdog_ = StartPostgresWatchdog(run_as_ + bin_dir_ + "/pg_ctl -D " + data_dir_ +
                                    " -m immediate stop >/dev/null 2>&1; rm -rf " + root);
  // -R writes primary_conninfo and standby.signal. Taken before the primary names its
  // synchronous standby below, so the standby does not inherit that setting (once promoted, it
  // would wait for a standby of its own that does not exist).
  Run(bin_dir_ + "/pg_basebackup -D " + data_dir_ + " -h " + primary.socket_dir() + " -p " +
          std::to_string(primary.port()) +
          " -U keyfleet -R -X stream --checkpoint=fast --no-sync >" + root + "/basebackup.log 2>&1",
      true);
  Run(bin_dir_ + "/pg_ctl -D " + data_dir_ + " -l " + log_path_ +
          " -w -t 60 -o \"-c listen_addresses='' -k " + root + " -p " + std::to_string(kPort) +
          " -c fsync=off -c max_connections=200 -c hot_standby=on\" start >/dev/null",
      true);
  running_ = true;
  try {
    pqxx::connection conn(primary.Url("postgres"));
    pqxx::nontransaction txn(conn);
    txn.exec0("ALTER SYSTEM SET synchronous_standby_names = '*'");
    txn.exec("SELECT pg_reload_conf()");
  } catch (const std::exception& e) {
    PostgresDie(kWho,
                std::string("cannot make the primary wait for its standby: ") + e.what() +
                    " (primary log: " + primary.log_path() + ")",
                log_path_);
  }
  const auto until = std::chrono::steady_clock::now() + kSyncWait;
  std::string state;
  while ((state = SyncState(primary)) != "sync") {
    if (std::chrono::steady_clock::now() > until) {
      PostgresDie(kWho,
                  "the primary did not report its standby as synchronous within 30 s (last "
                  "state: \"" +
                      state + "\"; primary log: " + primary.log_path() + ")",
                  log_path_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TempPostgresStandby::~TempPostgresStandby() {
  if (running_) {
    RunPostgresCommand(kWho, run_as_,
                       bin_dir_ + "/pg_ctl -D " + data_dir_ + " -w -t 60 -m immediate stop",
                       /*must_succeed=*/false, log_path_);
  }
  StopPostgresWatchdog(watchdog_);
}

std::string TempPostgresStandby::Run(const std::string& command, bool must_succeed) {
  return RunPostgresCommand(kWho, run_as_, command, must_succeed, log_path_);
}

void TempPostgresStandby::Promote() {
  Run(bin_dir_ + "/pg_ctl -D " + data_dir_ + " -w -t 60 promote >/dev/null", true);
  try {
    pqxx::connection conn(Url("postgres"));
    pqxx::nontransaction txn(conn);
    if (txn.exec1("SELECT pg_is_in_recovery()")[0].as<bool>()) {
      PostgresDie(kWho, "pg_ctl promote returned but the server is still in recovery", log_path_);
    }
  } catch (const std::exception& e) {
    PostgresDie(kWho, std::string("the promoted server does not answer: ") + e.what(), log_path_);
  }
}

pid_t TempPostgresStandby::WalReceiverPid() const {
  try {
    pqxx::connection conn(Url("postgres"));
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec("SELECT pid FROM pg_stat_wal_receiver WHERE pid IS NOT NULL");
    return r.empty() ? -1 : r[0][0].as<pid_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

std::string TempPostgresStandby::Url(const std::string& database) const {
  return "host=" + socket_dir() + " port=" + std::to_string(kPort) +
         " user=keyfleet dbname=" + database;
}

std::string FailoverUrl(const TempPostgres& primary, const TempPostgresStandby& standby,
                        const std::string& database) {
  return "host=" + primary.socket_dir() + "," + standby.socket_dir() +
         " port=" + std::to_string(primary.port()) + "," + std::to_string(standby.port()) +
         " user=keyfleet dbname=" + database + " target_session_attrs=read-write connect_timeout=2";
}

}  // namespace keyfleet::testing
