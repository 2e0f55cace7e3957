// A private PostgreSQL server for one test binary: initdb in a temporary directory, started with
// pg_ctl, listening only on a Unix socket in that directory. Run as the `postgres` user when the
// tests run as root. There is no quiet skip: if the server cannot be started, the test program
// aborts with the reason and the server log.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::testing {

class TempPostgres {
 public:
  TempPostgres();   // initdb + start; aborts on failure
  ~TempPostgres();  // stops the server (immediate) and removes its directory
  TempPostgres(const TempPostgres&) = delete;
  TempPostgres& operator=(const TempPostgres&) = delete;

  // A new, empty database; each test uses its own so each starts from a clean schema.
  std::string CreateDatabase();
  // A new database restored from a pg_dump of `database` taken now (a restore from backup).
  std::string RestoreCopy(const std::string& database);
  // A libpq connection string for `database`.
  std::string Url(const std::string& database) const;

  // Stop and start the same cluster. `immediate` stops like a crash (no checkpoint).
  void Stop(bool immediate);
  void Start();

  const std::string& log_path() const { return log_path_; }
  // What a second server needs to stream from this one (TempPostgresStandby): the directory of
  // its Unix socket, its port, where the PostgreSQL programs are and how to run them.
  std::string socket_dir() const { return dir_.path().string(); }
  int port() const { return kPort; }
  const std::string& bin_dir() const { return bin_dir_; }
  const std::string& run_as() const { return run_as_; }

 private:
  static constexpr int kPort = 5432;  // of a socket in our own directory: no clash

  std::string Run(const std::string& command, bool must_succeed);

  ScopedTempDir dir_;
  int watchdog_ = -1;  // StartPostgresWatchdog's pipe
  std::string bin_dir_;
  std::string data_dir_;
  std::string log_path_;
  std::string run_as_;  // "runuser -u postgres -- " when root, else ""
  int next_database_ = 0;
  bool running_ = false;
};

}  // namespace keyfleet::testing
