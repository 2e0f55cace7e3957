// A small pool of libpqxx connections and the transaction runner every PostgreSQL query goes
// through: it reconnects and retries when the connection is lost, and turns libpqxx exceptions
// into absl::Status.
//
// Failover: given a multi-host connection string with target_session_attrs=read-write (libpq
// tries the hosts in turn and keeps the one that accepts writes), a connection to a primary that
// crashed or was shut down breaks, one to a server that stopped taking writes (SQLSTATE 25006: a
// fenced old primary) is dropped, and the next attempt connects to whichever host is the primary
// now; until one is, calls wait and retry within the retry budget.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/database_unavailable.h"

namespace keyfleet::controller {

// What a pool has done, for the controller's metrics (read at scrape time; the pool only counts).
struct PgPoolCounters {
  std::atomic<uint64_t> in_use{0};       // connections lent to a call right now
  std::atomic<uint64_t> retries{0};      // attempts after the first, within a call's budget
  std::atomic<uint64_t> unavailable{0};  // calls that gave up: no connection or no database
};

struct PgOptions {
  std::string url;  // libpq connection string or postgresql:// URI
  size_t pool_size = 4;
  // How long a call may take in all — waiting for a free connection, and retrying while the
  // database is unreachable — before it reports UNAVAILABLE and changes nothing. Covers a
  // PostgreSQL restart; keep it below the clients' deadline (the CLI's is 30 s).
  absl::Duration retry_budget = absl::Seconds(20);
  // Optional: where the pool counts what it does.
  std::shared_ptr<PgPoolCounters> counters = nullptr;
};

class PgPool {
 public:
  // `on_connect` runs on every new connection (it prepares the statements).
  PgPool(PgOptions options, std::function<void(pqxx::connection&)> on_connect);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs `body` in a read-write transaction and commits when it returns OK; rolls back and
  // returns its status otherwise. When the connection is lost before the commit, `body` runs
  // again on a new connection (so it must only write its results through captures it
  // re-assigns). When the commit fails in a way that does not prove it rolled back (the
  // connection lost, the server shutting down), the outcome is unknown: the body never runs
  // again and the result is UNAVAILABLE saying "unknown whether". `what` names the operation in
  // error messages.
  // `deadline` is the caller's: waits end by then (DEADLINE_EXCEEDED, nothing changed), each
  // statement is bounded by what is left (statement_timeout), and the body should check it
  // before it returns OK, since nothing must be committed after the caller gave up. The COMMIT
  // itself is not bounded (PostgreSQL stops the statement timer before it commits): with a
  // synchronous standby it waits for the standby, as it must, since ending that wait early would
  // report success for a change only the primary has. A caller whose deadline passes meanwhile
  // gets DEADLINE_EXCEEDED from gRPC; its retry with the same request id finds the outcome.
  absl::Status Transact(absl::string_view what,
                        const std::function<absl::Status(pqxx::dbtransaction&)>& body,
                        absl::Time deadline = absl::InfiniteFuture());
  // The same in a read-only REPEATABLE READ transaction: one consistent snapshot.
  absl::Status ReadSnapshot(absl::string_view what,
                            const std::function<absl::Status(pqxx::dbtransaction&)>& body);

  const PgOptions& options() const { return options_; }

 private:
  struct Slot;
  Slot* Acquire(absl::Time deadline);  // nullptr when none is free by then
  void Release(Slot* slot);
  absl::Status Run(absl::string_view what, bool read_only,
                   const std::function<absl::Status(pqxx::dbtransaction&)>& body,
                   absl::Time caller_deadline);

  PgOptions options_;
  std::function<void(pqxx::connection&)> on_connect_;
  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
};

// Every error a caller gets because PostgreSQL is down starts with kDatabaseUnavailable
// (UNAVAILABLE): clients tell it from an unreachable controller, and it never says where the
// database is (the controller's log does).
absl::Status DatabaseUnavailableError(absl::string_view detail);
bool IsDatabaseUnavailable(const absl::Status& status);

// DEADLINE_EXCEEDED: the caller's deadline passed before `what` could be committed, so it was
// not (its transaction rolled back, or never began).
absl::Status CallerDeadlineError(absl::string_view what);

// Opens a connection, with a message naming the database (never the password) on failure.
absl::Status DescribeConnectionError(const std::string& url, const std::exception& e);

// The URL with any password replaced by "***", for logs and messages.
std::string RedactDatabaseUrl(const std::string& url);

}  // namespace keyfleet::controller
