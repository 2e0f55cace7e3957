// A streaming standby of a TempPostgres, for failover tests: a second private server made from a
// base backup of the primary (pg_basebackup -R), hot standby (read-only queries), listening only
// on a Unix socket in its own temporary directory, run as `postgres` when the tests run as root.
// The primary is made to wait for it at every commit (synchronous_standby_names = '*'), so a
// commit the primary acknowledged is on the standby too. As with TempPostgres there is no quiet
// skip: if the standby cannot be made, the test program aborts with the reason and the logs; a
// watchdog stops it if the test process dies.
#pragma once

#include <sys/types.h>

#include <string>

#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::testing {

class TempPostgresStandby {
 public:
  // Takes the base backup, starts the standby, and makes it the primary's synchronous standby
  // (waits, 30 s at most, until the primary reports it as `sync`). Aborts on failure.
  explicit TempPostgresStandby(TempPostgres& primary);
  ~TempPostgresStandby();  // stops the server (immediate) and removes its directory
  TempPostgresStandby(const TempPostgresStandby&) = delete;
  TempPostgresStandby& operator=(const TempPostgresStandby&) = delete;

  // pg_ctl promote, waiting until it has left recovery and accepts writes. Aborts on failure.
  void Promote();
  // The pid of its WAL receiver (SIGSTOP it to hold commits on the primary in their wait for
  // this standby); -1 when it has none (not streaming, or promoted).
  pid_t WalReceiverPid() const;

  // A libpq connection string for `database` on this server alone.
  std::string Url(const std::string& database) const;
  std::string socket_dir() const { return dir_.path().string(); }
  int port() const { return kPort; }
  const std::string& log_path() const { return log_path_; }

 private:
  static constexpr int kPort = 5433;  // beside the primary's 5432, in another directory

  std::string Run(const std::string& command, bool must_succeed);

  ScopedTempDir dir_;
  int watchdog_ = -1;  // StartPostgresWatchdog's pipe
  std::string bin_dir_;
  std::string data_dir_;
  std::string log_path_;
  std::string run_as_;
  bool running_ = false;
};

// A libpq connection string naming both servers, primary first, that connects to whichever of
// them accepts writes now: "host=/primary,/standby port=5432,5433 user=keyfleet dbname=DATABASE
// target_session_attrs=read-write connect_timeout=2". What a controller is given for failover.
std::string FailoverUrl(const TempPostgres& primary, const TempPostgresStandby& standby,
                        const std::string& database);

}  // namespace keyfleet::testing
