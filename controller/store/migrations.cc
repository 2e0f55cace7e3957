#include "controller/store/migrations.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace keyfleet::controller {
namespace {

// Arbitrary, fixed: "keyfleet" in ASCII, truncated to fit a bigint.
constexpr int64_t kMigrationLockId = 0x6b6579666c656574LL;

constexpr char kCreateTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "  version integer PRIMARY KEY,"
    "  name text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

int CurrentVersion(pqxx::dbtransaction& txn) {
  pqxx::row row = txn.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations");
  return row[0].as<int>();
}

absl::Status NewerSchemaError(int db_version, int known) {
  return absl::FailedPreconditionError(absl::StrCat(
      "the database schema is at version ", db_version, " but this keyfleet-controller knows only ",
      known, "; run a newer keyfleet-controller (refusing to touch a newer schema)"));
}

}  // namespace

absl::StatusOr<MigrationResult> ApplyMigrations(pqxx::connection& conn,
                                                const std::vector<Migration>& migrations) {
  const int known = migrations.empty() ? 0 : migrations.back().version;
  MigrationResult result;
  try {
    bool first = true;
    for (;;) {
      pqxx::work txn(conn);
      // Held until commit: concurrent controllers apply one migration at a time, in order.
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockId);
      txn.exec0(kCreateTable);
      int current = CurrentVersion(txn);
      if (first) {
        result.from_version = current;
        first = false;
      }
      result.to_version = current;
      if (current > known) return NewerSchemaError(current, known);
      if (current == known) {
        txn.commit();
        return result;
      }
      const Migration& next = migrations[current];  // versions are 1..known without gaps
      if (next.version != current + 1) {
        return absl::InternalError(
            absl::StrCat("embedded migrations have a gap at version ", current + 1));
      }
      txn.exec0(next.sql);
      txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       next.version, std::string(next.name));
      txn.commit();
      result.applied.push_back(next.name);
      result.to_version = next.version;
    }
  } catch (const pqxx::sql_error& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("schema migration failed (SQLSTATE ", e.sqlstate(), "): ", e.what(),
                     "; nothing of the failing migration was applied"));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("schema migration failed: ", e.what()));
  }
}

absl::StatusOr<int> CheckSchemaVersion(pqxx::connection& conn, int known_version) {
  try {
    pqxx::read_transaction txn(conn);
    pqxx::result exists = txn.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return 0;
    int current = CurrentVersion(txn);
    if (current > known_version) return NewerSchemaError(current, known_version);
    return current;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot read the schema version: ", e.what()));
  }
}

}  // namespace keyfleet::controller
