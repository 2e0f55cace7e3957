#include "controller/store/pg_pool.h"

#include <pqxx/pqxx>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {

struct PgPool::Slot {
  std::unique_ptr<pqxx::connection> conn;
};

namespace {

constexpr char kReadOnlySqlState[] = "25006";  // read_only_sql_transaction

// SQLSTATE classes a retry can cure: serialization failures and deadlocks (40), the server
// shutting down or restarting (57P), too many connections (53300), a connection exception (08),
// and a server that no longer takes writes (25006).
bool IsRetryableSqlState(const std::string& state) {
  return state.rfind("40", 0) == 0 || state.rfind("57P", 0) == 0 || state == "53300" ||
         state.rfind("08", 0) == 0 || state == kReadOnlySqlState;
}

// After one of these the connection is not worth keeping: the server is going away, or it is not
// the primary any more (a standby, or a primary fenced with default_transaction_read_only after
// a failover). A new connection goes to whichever server accepts writes now (libpq tries every
// host of a multi-host string, and target_session_attrs=read-write skips the others).
bool DropsTheConnection(const std::string& state) {
  return state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0 || state == kReadOnlySqlState;
}

// The only errors of a COMMIT that say it did not happen: the transaction was rolled back for a
// serialization failure or deadlock, or a deferred constraint refused it. Anything else during
// the commit (the connection lost, the server shutting down while the commit waits for a
// synchronous standby) leaves its outcome unknown.
bool CommitSurelyFailed(const std::string& state) {
  return state == "40001" || state == "40P01" || state == "40002" || state.rfind("23", 0) == 0;
}

// UNAVAILABLE for a commit whose outcome is unknown. The CLI asks again, with the same request
// id, on "unknown whether": the controller then answers with the outcome.
absl::Status CommitOutcomeUnknownError(absl::string_view what) {
  return DatabaseUnavailableError(
      absl::StrCat(what,
                   ": the connection to PostgreSQL was lost while committing, so it is unknown "
                   "whether the change was applied; check `keyfleet audit` before retrying"));
}

// The longest pause between attempts to reach the database: a promoted standby is found within
// this of accepting writes.
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(500);

absl::Status SqlErrorStatus(absl::string_view what, const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  std::string message = absl::StrCat(what, ": database error (SQLSTATE ", state, "): ", e.what());
  if (state == "23505") return absl::AlreadyExistsError(message);
  if (state.rfind("23", 0) == 0) return absl::FailedPreconditionError(message);
  if (state == "42P01" || state == "42703" || state == "42883") {
    return absl::FailedPreconditionError(
        absl::StrCat(message,
                     " (the schema is missing or older than this binary: run "
                     "`keyfleet-controller migrate`)"));
  }
  return absl::InternalError(message);
}

}  // namespace

std::string RedactDatabaseUrl(const std::string& url) {
  static const std::regex kUriPassword(R"((://[^:/@]*:)[^@]*@)");
  static const std::regex kKeywordPassword(R"((password\s*=\s*)('[^']*'|\S+))");
  std::string out = std::regex_replace(url, kUriPassword, "$1***@");
  return std::regex_replace(out, kKeywordPassword, "$1***");
}

absl::Status DatabaseUnavailableError(absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat(kDatabaseUnavailable, ": ", detail));
}

absl::Status CallerDeadlineError(absl::string_view what) {
  return absl::DeadlineExceededError(
      absl::StrCat(what,
                   ": the caller's deadline passed before it could be committed; nothing "
                   "was changed"));
}

bool IsDatabaseUnavailable(const absl::Status& status) {
  return absl::IsUnavailable(status) && absl::StartsWith(status.message(), kDatabaseUnavailable);
}

absl::Status DescribeConnectionError(const std::string& url, const std::exception& e) {
  std::string detail = e.what();
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  return absl::UnavailableError(
      absl::StrCat("cannot connect to PostgreSQL at ", RedactDatabaseUrl(url), ": ", detail));
}

PgPool::PgPool(PgOptions options, std::function<void(pqxx::connection&)> on_connect)
    : options_(std::move(options)), on_connect_(std::move(on_connect)) {
  if (options_.pool_size == 0) options_.pool_size = 1;
  for (size_t i = 0; i < options_.pool_size; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    free_.push_back(slots_.back().get());
  }
}

PgPool::~PgPool() = default;

PgPool::Slot* PgPool::Acquire(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!free_cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return !free_.empty(); })) {
    return nullptr;
  }
  Slot* slot = free_.back();
  free_.pop_back();
  if (options_.counters) ++options_.counters->in_use;
  return slot;
}

void PgPool::Release(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
    if (options_.counters) --options_.counters->in_use;
  }
  free_cv_.notify_one();
}

absl::Status PgPool::Transact(absl::string_view what,
                              const std::function<absl::Status(pqxx::dbtransaction&)>& body,
                              absl::Time deadline) {
  return Run(what, /*read_only=*/false, body, deadline);
}

absl::Status PgPool::ReadSnapshot(absl::string_view what,
                                  const std::function<absl::Status(pqxx::dbtransaction&)>& body) {
  return Run(what, /*read_only=*/true, body, absl::InfiniteFuture());
}

absl::Status PgPool::Run(absl::string_view what, bool read_only,
                         const std::function<absl::Status(pqxx::dbtransaction&)>& body,
                         absl::Time caller_deadline) {
  // One budget for waiting for a connection and for retrying on it: a call never outlives it,
  // so with the default budget (20 s) below the CLI's deadline (30 s), nothing is committed
  // after the caller gave up and reported a failure (and a retry would duplicate it). A caller
  // with an earlier deadline bounds it further.
  const absl::Time budget_end = absl::Now() + options_.retry_budget;
  const bool caller_bound = caller_deadline < budget_end;
  const absl::Time deadline = std::min(budget_end, caller_deadline);
  if (absl::Now() >= deadline && caller_bound) return CallerDeadlineError(what);
  Slot* slot = Acquire(deadline);
  if (slot == nullptr && caller_bound) return CallerDeadlineError(what);
  if (slot == nullptr) {
    if (options_.counters) ++options_.counters->unavailable;
    spdlog::error("{}: no free PostgreSQL connection within {} (all {} busy)", std::string(what),
                  absl::FormatDuration(options_.retry_budget), options_.pool_size);
    return DatabaseUnavailableError(absl::StrCat(what,
                                                 ": every database connection stayed busy for ",
                                                 absl::FormatDuration(options_.retry_budget),
                                                 " (PostgreSQL is slow or down); nothing was "
                                                 "changed"));
  }
  struct ReleaseOnExit {
    PgPool* pool;
    Slot* slot;
    ~ReleaseOnExit() { pool->Release(slot); }
  } release{this, slot};

  absl::Duration backoff = absl::Milliseconds(50);
  absl::Status last_error;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (absl::Now() + backoff > deadline) {
        if (caller_bound) {
          spdlog::warn("{}: PostgreSQL unreachable until the caller's deadline: {}",
                       std::string(what), std::string(last_error.message()));
          return CallerDeadlineError(what);
        }
        // The details (where the database is, what libpq said) stay in this log; callers get
        // only what they can act on.
        if (options_.counters) ++options_.counters->unavailable;
        spdlog::error("{}: PostgreSQL unreachable for {}: {}", std::string(what),
                      absl::FormatDuration(options_.retry_budget),
                      std::string(last_error.message()));
        return DatabaseUnavailableError(absl::StrCat(what, ": PostgreSQL was unreachable for ",
                                                     absl::FormatDuration(options_.retry_budget),
                                                     "; nothing was changed"));
      }
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
      backoff = std::min(backoff * 2, kMaxBackoff);
      if (options_.counters) ++options_.counters->retries;
    }
    try {
      if (!slot->conn || !slot->conn->is_open()) {
        slot->conn.reset();
        auto conn = std::make_unique<pqxx::connection>(options_.url);
        on_connect_(*conn);
        slot->conn = std::move(conn);
      }
    } catch (const std::exception& e) {
      slot->conn.reset();
      last_error = DescribeConnectionError(options_.url, e);
      continue;
    }
    // Set once a write transaction's COMMIT is sent: from then on a failure may hide a commit,
    // so the body is never run again (it would do the change twice).
    bool committing = false;
    try {
      absl::Status status;
      if (read_only) {
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(*slot->conn);
        status = body(txn);
        if (status.ok()) txn.commit();
      } else {
        pqxx::work txn(*slot->conn);
        if (caller_deadline != absl::InfiniteFuture()) {
          const int64_t left_ms = absl::ToInt64Milliseconds(caller_deadline - absl::Now());
          if (left_ms <= 0) return CallerDeadlineError(what);
          // No statement (a lock wait among them) outlives the caller.
          txn.exec0(absl::StrCat("SET LOCAL statement_timeout = ", left_ms));
        }
        status = body(txn);
        if (status.ok()) {
          committing = true;
          txn.commit();
        }
      }
      return status;
    } catch (const pqxx::in_doubt_error& e) {
      slot->conn.reset();
      if (committing) {
        spdlog::error("{}: connection lost while committing: {}", std::string(what), e.what());
        return CommitOutcomeUnknownError(what);
      }
      // A read-only transaction: nothing to be unsure of, its results are read again.
      spdlog::warn("{}: lost the PostgreSQL connection, retrying: {}", std::string(what), e.what());
      last_error = absl::UnavailableError(e.what());
    } catch (const pqxx::broken_connection& e) {
      slot->conn.reset();
      if (committing) {
        spdlog::error("{}: connection lost while committing: {}", std::string(what), e.what());
        return CommitOutcomeUnknownError(what);
      }
      spdlog::warn("{}: lost the PostgreSQL connection, retrying: {}", std::string(what), e.what());
      last_error = absl::UnavailableError(e.what());
    } catch (const pqxx::sql_error& e) {
      if (committing && !CommitSurelyFailed(e.sqlstate())) {
        slot->conn.reset();
        spdlog::error("{}: the commit failed with SQLSTATE {}, its outcome unknown: {}",
                      std::string(what), e.sqlstate(), e.what());
        return CommitOutcomeUnknownError(what);
      }
      // 57014: a statement ran into the statement_timeout set from the caller's deadline.
      if (e.sqlstate() == "57014" && caller_deadline != absl::InfiniteFuture()) {
        return CallerDeadlineError(what);
      }
      if (!IsRetryableSqlState(e.sqlstate())) return SqlErrorStatus(what, e);
      if (e.sqlstate() == kReadOnlySqlState) {
        spdlog::warn(
            "{}: the server no longer accepts writes (not the primary any more?); "
            "reconnecting to the one that does: {}",
            std::string(what), e.what());
      } else {
        spdlog::warn("{}: retryable database error {}: {}", std::string(what), e.sqlstate(),
                     e.what());
      }
      if (DropsTheConnection(e.sqlstate())) slot->conn.reset();
      last_error = absl::UnavailableError(e.what());
    } catch (const std::exception& e) {
      if (committing) {
        slot->conn.reset();
        spdlog::error("{}: the commit failed, its outcome unknown: {}", std::string(what),
                      e.what());
        return CommitOutcomeUnknownError(what);
      }
      return absl::InternalError(absl::StrCat(what, ": ", e.what()));
    }
  }
}

}  // namespace keyfleet::controller
