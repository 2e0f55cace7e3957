// Numbered schema migrations (controller/migrations/NNNN_name.sql, embedded at build time),
// applied in order, each in its own transaction under an advisory lock, and recorded in
// schema_migrations.
#pragma once

#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace keyfleet::controller {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration this binary knows, oldest first. Versions are 1, 2, 3, … without gaps.
const std::vector<Migration>& EmbeddedMigrations();

struct MigrationResult {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  // names, in order
};

// Applies the migrations the database lacks. Several controllers may start at once: the
// advisory lock makes one apply and the others see the result. FAILED_PRECONDITION when the
// database's schema is newer than this binary knows (never downgrades or touches it).
absl::StatusOr<MigrationResult> ApplyMigrations(pqxx::connection& conn,
                                                const std::vector<Migration>& migrations);

// The schema version recorded in the database (0 when none), FAILED_PRECONDITION when it is
// newer than `known_version`.
absl::StatusOr<int> CheckSchemaVersion(pqxx::connection& conn, int known_version);

}  // namespace keyfleet::controller
