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

 private:
  std::string Run(const std::string& command, bool must_succeed);

  // Stops the server and removes the directory if this process dies without running the
  // destructor (killed by a ctest timeout, say).
  void StartWatchdog();

  ScopedTempDir dir_;
  pid_t watchdog_ = -1;
  std::string bin_dir_;
  std::string data_dir_;
  std::string log_path_;
  std::string run_as_;  // "runuser -u postgres -- " when root, else ""
  int next_database_ = 0;
  bool running_ = false;
};

}  // namespace keyfleet::testing
