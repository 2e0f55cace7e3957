#include "controller/store/postgres_store.h"

#include <algorithm>
#include <limits>
#include <map>
#include <pqxx/pqxx>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/base64.h"
#include "common/status_macros.h"
#include "controller/audit_chain.h"
#include "controller/enrollment_rules.h"
#include "controller/notification_events.h"
#include "controller/record_json.h"
#include "controller/store/inventory_errors.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_array.h"
#include "controller/store/pg_outbox.h"
#include "controller/store/pg_rows.h"
#include "controller/store/pg_statements.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

void PrepareStatements(pqxx::connection& conn) {
  for (const sql::Statement& s : sql::kStatements) conn.prepare(s.name, s.text);
}

// How long a request id is remembered: far past any client's retries.
constexpr absl::Duration kRequestOutcomeLifetime = absl::Hours(24 * 7);

int64_t Us(absl::Time t) {
  return absl::ToUnixMicros(t);
}

std::optional<int64_t> OptionalUs(const std::optional<absl::Time>& t) {
  if (!t) return std::nullopt;
  return Us(*t);
}

// Reads the principal row (with its id in column 5) or NOT_FOUND.
absl::StatusOr<std::pair<int64_t, PrincipalRecord>> LoadPrincipal(pqxx::dbtransaction& txn,
                                                                  const std::string& name) {
  pqxx::result r = txn.exec_prepared("principal_by_name", name);
  if (r.empty()) return PrincipalNotFoundError(name);
  KF_ASSIGN_OR_RETURN(PrincipalRecord p, PrincipalFromRow(r[0]));
  return std::make_pair(r[0][5].as<int64_t>(), std::move(p));
}

absl::StatusOr<KeyRecord> LoadKey(pqxx::dbtransaction& txn, const std::string& fingerprint) {
  pqxx::result r = txn.exec_prepared("key_by_fingerprint", fingerprint);
  if (r.empty()) return KeyNotFoundError(fingerprint);
  return KeyFromRow(r[0]);
}

template <typename T, typename FromRow, typename... Params>
absl::StatusOr<std::vector<T>> AllRows(pqxx::dbtransaction& txn, const char* statement,
                                       FromRow from_row, const Params&... params) {
  std::vector<T> out;
  pqxx::result r = txn.exec_prepared(statement, params...);
  out.reserve(r.size());
  for (const pqxx::row& row : r) {
    KF_ASSIGN_OR_RETURN(T record, from_row(row));
    out.push_back(std::move(record));
  }
  return out;
}

// The newest use of every key ever used (the key_uses table, over every host and account).
std::map<std::string, absl::Time> LastKeyUsesIn(pqxx::dbtransaction& txn) {
  std::map<std::string, absl::Time> last;
  for (const pqxx::row& row : txn.exec_prepared("key_last_uses_all")) {
    last[row[0].as<std::string>()] = absl::FromUnixMicros(row[1].as<int64_t>());
  }
  return last;
}

}  // namespace

PostgresStore::PostgresStore(PgOptions options) : pool_(std::move(options), PrepareStatements) {}

PostgresStore::~PostgresStore() = default;

absl::StatusOr<MigrationResult> PostgresStore::Migrate() {
  try {
    pqxx::connection conn(pool_.options().url);
    return ApplyMigrations(conn, EmbeddedMigrations());
  } catch (const std::exception& e) {
    return DescribeConnectionError(pool_.options().url, e);
  }
}

absl::Status PostgresStore::CheckSchema() {
  const int known = EmbeddedMigrations().back().version;
  absl::StatusOr<int> version;
  try {
    pqxx::connection conn(pool_.options().url);
    version = CheckSchemaVersion(conn, known);
  } catch (const std::exception& e) {
    return DescribeConnectionError(pool_.options().url, e);
  }
  if (!version.ok()) return version.status();
  if (*version < known) {
    return absl::FailedPreconditionError(absl::StrCat("the database schema is at version ",
                                                      *version, ", this controller needs ", known,
                                                      "; run `keyfleet-controller migrate`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PostgresStore::Mutate(const MutationContext& ctx, absl::string_view what,
                                               const MutationBody& body) {
  uint64_t last_change = 0;
  uint64_t signed_now = 0;
  KF_RETURN_IF_ERROR(pool_.Transact(
      what,
      [&](pqxx::dbtransaction& txn) -> absl::Status {
        last_change = 0;
        txn.exec_prepared("inventory_lock");
        // Under the inventory lock: two attempts of one request cannot both pass this.
        if (!ctx.request.id.empty() &&
            !txn.exec_prepared("request_outcome_seen", ctx.request.id).empty()) {
          return RequestAlreadyDoneError(ctx.request.id);
        }
        KF_ASSIGN_OR_RETURN(MutationLog log, body(txn));
        signed_now = 0;
        KF_RETURN_IF_ERROR(AppendAudit(txn, log.audit, {ctx}, &signed_now));
        // In the mutation's transaction: a notification exists if and only if its change does.
        for (const OutboxEntry& e : NotificationsForMutation(log.audit, ctx)) {
          InsertOutboxEntry(txn, e);
        }
        for (const EntityChange& change : log.changes) {
          last_change =
              txn.exec_prepared1("change_insert", Us(ctx.at), EntityKindName(change.entity),
                                 change.key, change.after_json)[0]
                  .as<uint64_t>();
        }
        if (last_change != 0) txn.exec_prepared("change_notify", std::to_string(last_change));
        if (!ctx.request.id.empty()) {
          txn.exec_prepared0("request_outcome_insert", ctx.request.id, ctx.actor,
                             ctx.request.method, ctx.request.digest,
                             static_cast<int64_t>(last_change), Us(ctx.at));
          txn.exec_prepared0("request_outcome_purge", Us(ctx.at - kRequestOutcomeLifetime));
        }
        // The caller gave up: committing now would make a failure it reported (and may retry)
        // true after all.
        if (absl::Now() >= ctx.deadline) return CallerDeadlineError(what);
        return absl::OkStatus();
      },
      ctx.deadline));
  NoteSigned(signed_now);
  return last_change;
}

absl::Status PostgresStore::AppendAudit(pqxx::dbtransaction& txn,
                                        const std::vector<AuditEntry>& entries,
                                        const std::vector<MutationContext>& contexts,
                                        uint64_t* last_signed) {
  if (entries.empty()) return absl::OkStatus();
  pqxx::result last = txn.exec_prepared("audit_last");
  std::string prev_hash = last.empty() ? "" : last[0][0].as<std::string>();
  CheckpointEvents batch;
  for (size_t i = 0; i < entries.size(); ++i) {
    const MutationContext& ctx = contexts.size() == 1 ? contexts[0] : contexts[i];
    const AuditEvent event = ChainAuditEvent(txn.exec_prepared1("audit_next_seq")[0].as<uint64_t>(),
                                             ctx, entries[i], prev_hash);
    txn.exec_prepared0("audit_insert", event.sequence, Us(event.at), event.actor, event.action,
                       event.target, event.before_json, event.after_json, event.prev_hash,
                       event.hash);
    prev_hash = event.hash;
    batch.emplace_back(event.sequence, event.hash);
  }
  if (signer_ == nullptr) return absl::OkStatus();
  return InsertCheckpoint(txn, std::move(batch), last_signed);
}

absl::Status PostgresStore::InsertCheckpoint(pqxx::dbtransaction& txn, CheckpointEvents events,
                                             uint64_t* last_signed) {
  const uint64_t first = events.front().first;
  const uint64_t last = events.back().first;
  KF_ASSIGN_OR_RETURN(AuditCheckpoint cp, signer_->Sign(std::move(events), absl::Now()));
  txn.exec_prepared0("checkpoint_insert", static_cast<int64_t>(first), static_cast<int64_t>(last),
                     Us(cp.signed_at), cp.key_id, FormatCheckpointEvents(cp.events), cp.signature);
  *last_signed = std::max(*last_signed, last);
  return absl::OkStatus();
}

void PostgresStore::NoteSigned(uint64_t sequence) {
  uint64_t seen = signed_head_.load();
  while (sequence > seen && !signed_head_.compare_exchange_weak(seen, sequence)) {
  }
}

absl::StatusOr<Snapshot> PostgresStore::LoadSnapshot() {
  Snapshot snap;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("load inventory", [&](pqxx::dbtransaction& txn) {
    snap = Snapshot();
    snap.sequence = txn.exec_prepared1("changes_max")[0].as<uint64_t>();
    snap.epoch = txn.exec_prepared1("database_epoch")[0].as<std::string>();
    KF_ASSIGN_OR_RETURN(snap.principals,
                        AllRows<PrincipalRecord>(txn, "principal_all", PrincipalFromRow));
    KF_ASSIGN_OR_RETURN(snap.keys, AllRows<KeyRecord>(txn, "key_all", KeyFromRow));
    KF_ASSIGN_OR_RETURN(snap.grants, AllRows<GrantRecord>(txn, "grant_all", GrantFromRow));
    KF_ASSIGN_OR_RETURN(snap.hosts, AllRows<HostRecord>(txn, "host_all", HostFromRow));
    KF_ASSIGN_OR_RETURN(snap.credentials,
                        AllRows<ApiCredentialRecord>(txn, "credential_all", ApiCredentialFromRow));
    for (const pqxx::row& row : txn.exec_prepared("revoked_all")) {
      snap.revoked_fingerprints.push_back({row[0].as<std::string>(), row[1].as<bool>()});
    }
    snap.last_uses = LastKeyUsesIn(txn);
    pqxx::result policy = txn.exec_prepared("policy_get");
    if (!policy.empty()) {
      KF_ASSIGN_OR_RETURN(snap.policy, PolicyFromJson(policy[0][0].as<std::string>()));
    }
    return absl::OkStatus();
  }));
  return snap;
}

absl::StatusOr<std::optional<RequestOutcome>> PostgresStore::FindRequestOutcome(
    const std::string& id) {
  std::optional<RequestOutcome> found;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read a request's outcome", [&](pqxx::dbtransaction& txn) {
    found.reset();
    pqxx::result r = txn.exec_prepared("request_outcome_get", id);
    if (r.empty()) return absl::OkStatus();
    RequestOutcome o;
    o.request_id = r[0][0].as<std::string>();
    o.actor = r[0][1].as<std::string>();
    o.method = r[0][2].as<std::string>();
    o.digest = r[0][3].as<std::string>();
    o.change = r[0][4].as<uint64_t>();
    if (!r[0][5].is_null()) {
      std::string text = r[0][5].as<std::string>();
      text.erase(std::remove(text.begin(), text.end(), '\n'), text.end());  // encode() wraps
      absl::StatusOr<std::string> bytes = Base64DecodeStrict(text);
      if (!bytes.ok()) return absl::DataLossError("a stored request outcome is not valid base64");
      o.response = *std::move(bytes);
    }
    o.secret_withheld = r[0][6].as<bool>();
    o.created_at = absl::FromUnixMicros(r[0][7].as<int64_t>());
    found = std::move(o);
    return absl::OkStatus();
  }));
  return found;
}

absl::Status PostgresStore::RecordRequestResponse(const std::string& id,
                                                  const std::string& response,
                                                  bool secret_withheld) {
  return pool_.Transact("record a request's answer", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("request_outcome_respond", id, Base64Encode(response), secret_withheld);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PostgresStore::RenewDatabaseEpoch(const MutationContext& ctx) {
  std::string epoch;
  KF_RETURN_IF_ERROR(
      Mutate(ctx, "renew the database epoch",
             [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
               const std::string before = txn.exec_prepared1("database_epoch")[0].as<std::string>();
               txn.exec_prepared0("database_identity_renew", Us(ctx.at));
               epoch = txn.exec_prepared1("database_epoch")[0].as<std::string>();
               MutationLog log;
               log.AuditOnly("database.epoch", "database", nlohmann::json{{"epoch", before}}.dump(),
                             nlohmann::json{{"epoch", epoch}}.dump());
               return log;
             })
          .status());
  return epoch;
}

absl::StatusOr<std::vector<Change>> PostgresStore::ChangesSince(uint64_t after, size_t limit) {
  std::vector<Change> changes;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read change feed", [&](pqxx::dbtransaction& txn) {
    changes.clear();
    pqxx::result r = txn.exec_prepared("changes_since", static_cast<int64_t>(after),
                                       static_cast<int64_t>(limit));
    for (const pqxx::row& row : r) {
      KF_ASSIGN_OR_RETURN(Change c, ChangeFromRow(row));
      changes.push_back(std::move(c));
    }
    return absl::OkStatus();
  }));
  return changes;
}

absl::StatusOr<uint64_t> PostgresStore::AddPrincipal(const MutationContext& ctx,
                                                     const PrincipalRecord& principal) {
  return Mutate(ctx, "add principal", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    if (!txn.exec_prepared("principal_by_name", principal.name).empty()) {
      return PrincipalExistsError(principal.name);
    }
    txn.exec_prepared0("principal_insert", principal.name, PrincipalKindName(principal.kind),
                       principal.email, principal.disabled, Us(principal.created_at));
    MutationLog log;
    log.Record("principal.add", EntityKind::kPrincipal, principal.name, "",
               PrincipalToJson(principal));
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::DisablePrincipal(const MutationContext& ctx,
                                                         const std::string& name) {
  return Mutate(ctx, "disable principal",
                [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
                  KF_ASSIGN_OR_RETURN(auto found, LoadPrincipal(txn, name));
                  PrincipalRecord before = found.second;
                  if (before.disabled) return PrincipalAlreadyDisabledError(name);
                  txn.exec_prepared0("principal_disable", name);
                  PrincipalRecord after = before;
                  after.disabled = true;
                  MutationLog log;
                  log.Record("principal.disable", EntityKind::kPrincipal, name,
                             PrincipalToJson(before), PrincipalToJson(after));
                  return log;
                });
}

absl::StatusOr<uint64_t> PostgresStore::AddKeys(const MutationContext& ctx,
                                                const std::vector<KeyRecord>& keys) {
  if (IsKeyBatch(keys)) return AddKeyBatch(ctx, keys);
  return Mutate(ctx, "add keys", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    MutationLog log;
    std::map<std::string, int64_t> principal_ids;
    for (const KeyRecord& key : keys) {
      if (!principal_ids.count(key.principal)) {
        KF_ASSIGN_OR_RETURN(auto found, LoadPrincipal(txn, key.principal));
        if (found.second.disabled) return PrincipalDisabledError(key.principal);
        principal_ids[key.principal] = found.first;
      }
      pqxx::result revoked = txn.exec_prepared("revoked_by_fingerprint", key.fingerprint);
      if (!revoked.empty()) {
        return KeyRevokedError(key.fingerprint, revoked[0][0].as<std::string>(),
                               absl::FromUnixMicros(revoked[0][1].as<int64_t>()));
      }
      pqxx::result existing = txn.exec_prepared("key_by_fingerprint", key.fingerprint);
      if (!existing.empty())
        return KeyOwnedError(key.fingerprint, existing[0][1].as<std::string>(), key.principal);
      txn.exec_prepared0("key_insert", key.fingerprint, principal_ids[key.principal], key.type,
                         static_cast<int64_t>(key.bits), key.public_key, key.comment, key.label,
                         Us(key.created_at), Us(key.expires_at), KeyStateName(key.state),
                         key.successor_fingerprint, KeySourceName(key.source));
      log.Record("key.add", EntityKind::kKey, key.fingerprint, "", KeyToJson(key));
    }
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::AddKeyBatch(const MutationContext& ctx,
                                                    const std::vector<KeyRecord>& keys) {
  // A few statements whatever the count: 30,000 keys one at a time were 180,000 round trips.
  std::vector<std::string> fingerprints, types, blobs, comments;
  std::vector<int64_t> bits, expires;
  for (const KeyRecord& k : keys) {
    fingerprints.push_back(k.fingerprint);
    types.push_back(k.type);
    bits.push_back(k.bits);
    blobs.push_back(k.public_key);
    comments.push_back(k.comment);
    expires.push_back(Us(k.expires_at));
  }
  const std::string fingerprint_array = PgTextArray(fingerprints);
  return Mutate(ctx, "add keys", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    const KeyRecord& first = keys.front();
    KF_ASSIGN_OR_RETURN(auto found, LoadPrincipal(txn, first.principal));
    if (found.second.disabled) return PrincipalDisabledError(first.principal);
    pqxx::result revoked = txn.exec_prepared("revoked_any", fingerprint_array);
    if (!revoked.empty()) {
      return KeyRevokedError(revoked[0][0].as<std::string>(), revoked[0][1].as<std::string>(),
                             absl::FromUnixMicros(revoked[0][2].as<int64_t>()));
    }
    pqxx::result existing = txn.exec_prepared("key_owner_any", fingerprint_array);
    if (!existing.empty()) {
      return KeyOwnedError(existing[0][0].as<std::string>(), existing[0][1].as<std::string>(),
                           first.principal);
    }
    txn.exec_prepared0("key_insert_many", fingerprint_array, found.first, first.label,
                       Us(first.created_at), KeySourceName(first.source), PgTextArray(types),
                       PgBigintArray(bits), PgTextArray(blobs), PgTextArray(comments),
                       PgBigintArray(expires));
    return KeyBatchLog(keys);
  });
}

absl::StatusOr<uint64_t> PostgresStore::LabelKey(const MutationContext& ctx,
                                                 const std::string& fingerprint,
                                                 const std::string& label) {
  return Mutate(ctx, "label key", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    KF_ASSIGN_OR_RETURN(KeyRecord before, LoadKey(txn, fingerprint));
    MutationLog log;
    if (before.label == label) return log;
    txn.exec_prepared0("key_set_label", fingerprint, label);
    KeyRecord after = before;
    after.label = label;
    log.Record("key.label", EntityKind::kKey, fingerprint, KeyToJson(before), KeyToJson(after));
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::RemoveKey(const MutationContext& ctx,
                                                  const std::string& fingerprint) {
  return Mutate(ctx, "remove key", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    KF_ASSIGN_OR_RETURN(KeyRecord before, LoadKey(txn, fingerprint));
    txn.exec_prepared0("key_delete", fingerprint);
    MutationLog log;
    log.Record("key.remove", EntityKind::kKey, fingerprint, KeyToJson(before), "");
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::RotateKey(const MutationContext& ctx,
                                                  const KeyRotation& rotation,
                                                  std::vector<GrantRecord>* carried) {
  return Mutate(ctx, "rotate key", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    carried->clear();
    KF_ASSIGN_OR_RETURN(KeyRecord before, LoadKey(txn, rotation.old_fingerprint));
    KF_RETURN_IF_ERROR(CheckRotatable(before));
    const KeyRecord& next = rotation.successor;
    KF_ASSIGN_OR_RETURN(auto owner, LoadPrincipal(txn, next.principal));
    if (owner.second.disabled) return PrincipalDisabledError(next.principal);
    pqxx::result revoked = txn.exec_prepared("revoked_by_fingerprint", next.fingerprint);
    if (!revoked.empty()) {
      return KeyRevokedError(next.fingerprint, revoked[0][0].as<std::string>(),
                             absl::FromUnixMicros(revoked[0][1].as<int64_t>()));
    }
    pqxx::result existing = txn.exec_prepared("key_by_fingerprint", next.fingerprint);
    if (!existing.empty()) {
      return KeyOwnedError(next.fingerprint, existing[0][1].as<std::string>(), next.principal);
    }
    MutationLog log;
    txn.exec_prepared0("key_insert", next.fingerprint, owner.first, next.type,
                       static_cast<int64_t>(next.bits), next.public_key, next.comment, next.label,
                       Us(next.created_at), Us(next.expires_at), KeyStateName(next.state),
                       next.successor_fingerprint, KeySourceName(next.source));
    log.Record("key.add", EntityKind::kKey, next.fingerprint, "", KeyToJson(next));
    KeyRecord after = before;
    after.state = KeyState::kSuperseded;
    after.successor_fingerprint = next.fingerprint;
    after.expires_at = std::min(before.expires_at, rotation.old_expires_at);
    txn.exec_prepared0("key_supersede", before.fingerprint, next.fingerprint, Us(after.expires_at));
    log.Record("key.rotate", EntityKind::kKey, before.fingerprint, KeyToJson(before),
               KeyToJson(after));
    pqxx::result grants = txn.exec_prepared("grants_of_key", before.fingerprint);
    for (const pqxx::row& row : grants) {
      KF_ASSIGN_OR_RETURN(GrantRecord grant, GrantFromRow(row));
      grant.key_fingerprint = next.fingerprint;
      grant.created_at = ctx.at;
      grant.id = txn.exec_prepared1("grant_insert", std::optional<int64_t>(), next.fingerprint,
                                    LabelsToJson(grant.hosts.labels), grant.hosts.hostname_glob,
                                    grant.account, grant.options, OptionalUs(grant.expires_at),
                                    grant.allow_root, Us(grant.created_at))[0]
                     .as<int64_t>();
      log.Record("grant.add", EntityKind::kGrant, std::to_string(grant.id), "", GrantToJson(grant));
      carried->push_back(std::move(grant));
    }
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::RevokeKey(const MutationContext& ctx,
                                                  const std::string& fingerprint,
                                                  const std::string& reason, bool ends_sessions) {
  return Mutate(ctx, "revoke key", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    KF_ASSIGN_OR_RETURN(KeyRecord before, LoadKey(txn, fingerprint));
    if (before.state == KeyState::kRevoked) {
      return KeyAlreadyRevokedError(fingerprint, before.revoked_at.value_or(absl::InfinitePast()));
    }
    txn.exec_prepared0("key_revoke", fingerprint, reason, Us(ctx.at), ends_sessions);
    txn.exec_prepared0("revoked_insert", fingerprint, reason, Us(ctx.at), ctx.actor, ends_sessions);
    KeyRecord after = before;
    after.state = KeyState::kRevoked;
    after.revocation_reason = reason;
    after.revoked_at = ctx.at;
    after.revocation_ends_sessions = ends_sessions;
    MutationLog log;
    log.Record("key.revoke", EntityKind::kKey, fingerprint, KeyToJson(before), KeyToJson(after));
    return log;
  });
}

absl::StatusOr<std::pair<uint64_t, GrantRecord>> PostgresStore::AddGrant(const MutationContext& ctx,
                                                                         const GrantRecord& grant) {
  GrantRecord stored;
  KF_ASSIGN_OR_RETURN(
      uint64_t change,
      Mutate(ctx, "add grant", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
        stored = grant;
        std::optional<int64_t> principal_id;
        std::optional<std::string> key_fingerprint;
        if (!grant.principal.empty()) {
          KF_ASSIGN_OR_RETURN(auto found, LoadPrincipal(txn, grant.principal));
          principal_id = found.first;
        } else {
          KF_ASSIGN_OR_RETURN(KeyRecord key, LoadKey(txn, grant.key_fingerprint));
          key_fingerprint = key.fingerprint;
        }
        stored.id = txn.exec_prepared1("grant_insert", principal_id, key_fingerprint,
                                       LabelsToJson(grant.hosts.labels), grant.hosts.hostname_glob,
                                       grant.account, grant.options, OptionalUs(grant.expires_at),
                                       grant.allow_root, Us(grant.created_at))[0]
                        .as<int64_t>();
        MutationLog log;
        log.Record("grant.add", EntityKind::kGrant, std::to_string(stored.id), "",
                   GrantToJson(stored));
        return log;
      }));
  return std::make_pair(change, stored);
}

absl::StatusOr<uint64_t> PostgresStore::RemoveGrant(const MutationContext& ctx, int64_t id) {
  return Mutate(ctx, "remove grant", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    pqxx::result r = txn.exec_prepared("grant_by_id", id);
    if (r.empty()) return GrantNotFoundError(id);
    KF_ASSIGN_OR_RETURN(GrantRecord before, GrantFromRow(r[0]));
    txn.exec_prepared0("grant_delete", id);
    MutationLog log;
    log.Record("grant.remove", EntityKind::kGrant, std::to_string(id), GrantToJson(before), "");
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::SetPolicy(const MutationContext& ctx,
                                                  const PolicyRecord& policy,
                                                  const std::vector<KeyLifeChange>& shorten) {
  return Mutate(ctx, "set policy", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    pqxx::result r = txn.exec_prepared("policy_get");
    std::string before = r.empty() ? "" : r[0][0].as<std::string>();
    std::string after = PolicyToJson(policy);
    MutationLog log;
    if (before != after) {
      txn.exec_prepared0("policy_set", after);
      log.Record("policy.set", EntityKind::kPolicy, "policy", before, after);
    }
    for (const KeyLifeChange& change : shorten) {
      KF_ASSIGN_OR_RETURN(KeyRecord key, LoadKey(txn, change.fingerprint));
      // Computed from the view: a change since then may have ended the key sooner already.
      if (key.state == KeyState::kRevoked || key.expires_at <= change.expires_after) continue;
      KeyRecord shortened = key;
      shortened.expires_at = change.expires_after;
      txn.exec_prepared0("key_set_expiry", key.fingerprint, Us(shortened.expires_at));
      log.Record("key.shorten", EntityKind::kKey, key.fingerprint, KeyToJson(key),
                 KeyToJson(shortened));
    }
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::RegisterHost(const MutationContext& ctx,
                                                     const std::string& hostname,
                                                     const Labels& labels) {
  return Mutate(ctx, "register host", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    MutationLog log;
    pqxx::result r = txn.exec_prepared("host_by_name", hostname);
    if (r.empty()) {
      HostRecord host;
      host.hostname = hostname;
      host.labels = labels;
      host.first_seen = host.last_seen = ctx.at;
      txn.exec_prepared0("host_insert", hostname, LabelsToJson(labels), Us(ctx.at));
      log.Record("host.register", EntityKind::kHost, hostname, "", HostToJson(host));
      return log;
    }
    KF_ASSIGN_OR_RETURN(HostRecord before, HostFromRow(r[0]));
    if (before.labels == labels) {
      txn.exec_prepared0("host_touch", hostname, Us(ctx.at));
      return log;
    }
    txn.exec_prepared0("host_set_labels", hostname, LabelsToJson(labels), Us(ctx.at));
    HostRecord after = before;
    after.labels = labels;
    log.Record("host.relabel", EntityKind::kHost, hostname, HostToJson(before), HostToJson(after));
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::SetHostLabels(const MutationContext& ctx,
                                                      const std::string& hostname,
                                                      const Labels& labels) {
  return Mutate(ctx, "label host", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    pqxx::result r = txn.exec_prepared("host_by_name", hostname);
    if (r.empty()) return HostNotFoundError(hostname);
    KF_ASSIGN_OR_RETURN(HostRecord before, HostFromRow(r[0]));
    MutationLog log;
    if (before.labels == labels) return log;
    txn.exec_prepared0("host_labels_only", hostname, LabelsToJson(labels));
    HostRecord after = before;
    after.labels = labels;
    log.Record("host.label", EntityKind::kHost, hostname, HostToJson(before), HostToJson(after));
    return log;
  });
}

absl::StatusOr<uint64_t> PostgresStore::RemoveHost(const MutationContext& ctx,
                                                   const std::string& hostname) {
  return Mutate(ctx, "remove host", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
    pqxx::result r = txn.exec_prepared("host_by_name", hostname);
    if (r.empty()) return HostNotFoundError(hostname);
    KF_ASSIGN_OR_RETURN(HostRecord before, HostFromRow(r[0]));
    txn.exec_prepared0("host_delete", hostname);
    MutationLog log;
    log.Record("host.remove", EntityKind::kHost, hostname, HostToJson(before), "");
    return log;
  });
}

absl::Status PostgresStore::CreateJoinToken(const MutationContext& ctx,
                                            const JoinTokenRecord& token) {
  return Mutate(ctx, "create join token",
                [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
                  txn.exec_prepared0("join_token_insert", token.id, token.secret_hash,
                                     token.hostname, LabelsToJson(token.labels),
                                     Us(token.created_at), Us(token.expires_at),
                                     static_cast<int64_t>(token.uses_allowed), token.created_by,
                                     LabelsToJson(token.creator_scope));
                  MutationLog log;
                  log.AuditOnly("host.token.create", token.id, "", JoinTokenToJson(token));
                  return log;
                })
      .status();
}

absl::StatusOr<std::vector<JoinTokenRecord>> PostgresStore::ListJoinTokens() {
  std::vector<JoinTokenRecord> tokens;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list join tokens", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(tokens, AllRows<JoinTokenRecord>(txn, "join_token_all", JoinTokenFromRow));
    return absl::OkStatus();
  }));
  return tokens;
}

absl::StatusOr<std::vector<JoinTokenRecord>> PostgresStore::ListJoinTokensAfter(
    absl::Time created_at, const std::string& id, size_t limit) {
  std::vector<JoinTokenRecord> tokens;
  const auto rows = static_cast<int64_t>(limit);
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list join tokens", [&](pqxx::dbtransaction& txn) {
    if (created_at == absl::InfinitePast()) {
      KF_ASSIGN_OR_RETURN(
          tokens, AllRows<JoinTokenRecord>(txn, "join_token_first_page", JoinTokenFromRow, rows));
    } else {
      KF_ASSIGN_OR_RETURN(tokens, AllRows<JoinTokenRecord>(txn, "join_token_page", JoinTokenFromRow,
                                                           Us(created_at), id, rows));
    }
    return absl::OkStatus();
  }));
  return tokens;
}

absl::StatusOr<std::optional<JoinTokenRecord>> PostgresStore::GetJoinToken(const std::string& id) {
  std::optional<JoinTokenRecord> token;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read join token", [&](pqxx::dbtransaction& txn) {
    token.reset();
    pqxx::result r = txn.exec_prepared("join_token_by_id", id);
    if (r.empty()) return absl::OkStatus();
    KF_ASSIGN_OR_RETURN(token, JoinTokenFromRow(r[0]));
    return absl::OkStatus();
  }));
  return token;
}

absl::Status PostgresStore::RevokeJoinToken(const MutationContext& ctx, const std::string& id) {
  return Mutate(ctx, "revoke join token",
                [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
                  pqxx::result r = txn.exec_prepared("join_token_lock", id);
                  if (r.empty()) return JoinTokenNotFoundError(id);
                  KF_ASSIGN_OR_RETURN(JoinTokenRecord before, JoinTokenFromRow(r[0]));
                  if (before.revoked_at) {
                    return absl::FailedPreconditionError(
                        absl::StrCat("join token ", id, " is already revoked"));
                  }
                  txn.exec_prepared0("join_token_revoke", id, Us(ctx.at));
                  JoinTokenRecord after = before;
                  after.revoked_at = ctx.at;
                  MutationLog log;
                  log.AuditOnly("host.token.revoke", id, JoinTokenToJson(before),
                                JoinTokenToJson(after));
                  return log;
                })
      .status();
}

namespace {

void InsertCredential(pqxx::dbtransaction& txn, const ApiCredentialRecord& c) {
  txn.exec_prepared0("credential_insert", c.id, c.name, CredentialKindName(c.kind),
                     RoleName(c.role), c.principal, LabelsToJson(c.host_scope), c.secret_hash,
                     c.certificate_serial, Us(c.created_at), c.created_by,
                     OptionalUs(c.expires_at));
}

}  // namespace

absl::Status PostgresStore::CreateApiCredential(const MutationContext& ctx,
                                                const ApiCredentialRecord& credential) {
  return Mutate(ctx, "create credential",
                [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
                  if (!txn.exec_prepared("credential_live_by_name_lock", credential.name).empty()) {
                    return CredentialNameTakenError(credential.name);
                  }
                  InsertCredential(txn, credential);
                  return CredentialCreatedLog(credential);
                })
      .status();
}

absl::StatusOr<bool> PostgresStore::CreateApiCredentialOnce(const MutationContext& ctx,
                                                            const ApiCredentialRecord& credential) {
  bool created = false;
  KF_RETURN_IF_ERROR(
      Mutate(ctx, "create credential once",
             [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
               created = false;
               if (!txn.exec_prepared("credential_name_ever_used", credential.name).empty()) {
                 return MutationLog();
               }
               InsertCredential(txn, credential);
               created = true;
               return CredentialCreatedLog(credential);
             })
          .status());
  return created;
}

absl::StatusOr<std::vector<ApiCredentialRecord>> PostgresStore::ListApiCredentials() {
  std::vector<ApiCredentialRecord> out;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list credentials", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(out,
                        AllRows<ApiCredentialRecord>(txn, "credential_all", ApiCredentialFromRow));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<ApiCredentialRecord>> PostgresStore::GetApiCredential(
    const std::string& id) {
  std::optional<ApiCredentialRecord> out;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read credential", [&](pqxx::dbtransaction& txn) {
    out.reset();
    pqxx::result r = txn.exec_prepared("credential_by_id", id);
    if (r.empty()) return absl::OkStatus();
    KF_ASSIGN_OR_RETURN(out, ApiCredentialFromRow(r[0]));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ApiCredentialRecord> PostgresStore::RevokeApiCredential(
    const MutationContext& ctx, const std::string& name_or_id) {
  ApiCredentialRecord after;
  KF_RETURN_IF_ERROR(
      Mutate(ctx, "revoke credential",
             [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
               pqxx::result r = txn.exec_prepared("credential_live_by_name_lock", name_or_id);
               if (r.empty()) r = txn.exec_prepared("credential_by_id_lock", name_or_id);
               if (r.empty()) return CredentialNotFoundError(name_or_id);
               KF_ASSIGN_OR_RETURN(ApiCredentialRecord before, ApiCredentialFromRow(r[0]));
               if (before.revoked_at) {
                 return absl::FailedPreconditionError(absl::StrCat(
                     "credential ", before.id, " (\"", before.name, "\") is already revoked"));
               }
               txn.exec_prepared0("credential_revoke", before.id, Us(ctx.at));
               after = before;
               after.revoked_at = ctx.at;
               return CredentialRevokedLog(before, after);
             })
          .status());
  return after;
}

absl::Status PostgresStore::TouchApiCredential(const std::string& id, absl::Time at) {
  return pool_.Transact("record credential use", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("credential_touch", id, Us(at));
    return absl::OkStatus();
  });
}

absl::StatusOr<EnrollmentResult> PostgresStore::EnrollHost(const MutationContext& ctx,
                                                           const EnrollmentRequest& request) {
  EnrollmentResult result;
  KF_ASSIGN_OR_RETURN(
      result.change,
      Mutate(ctx, "enroll host", [&](pqxx::dbtransaction& txn) -> absl::StatusOr<MutationLog> {
        pqxx::result t = txn.exec_prepared("join_token_lock", request.token_id);
        if (t.empty()) return UnknownJoinTokenError();
        KF_ASSIGN_OR_RETURN(JoinTokenRecord token, JoinTokenFromRow(t[0]));
        KF_RETURN_IF_ERROR(CheckJoinToken(token, request.secret_hash, ctx.at));
        std::optional<HostRecord> existing;
        const std::string lookup = token.hostname.empty() ? request.hostname : token.hostname;
        if (pqxx::result h = txn.exec_prepared("host_by_name", lookup); !h.empty()) {
          KF_ASSIGN_OR_RETURN(existing, HostFromRow(h[0]));
        }
        KF_ASSIGN_OR_RETURN(std::string hostname,
                            EnrollmentHostname(token, request.hostname, existing));
        const HostRecord host = EnrolledHost(token, hostname, existing, request, ctx.at);
        txn.exec_prepared0("host_enroll", hostname, LabelsToJson(host.labels), Us(ctx.at),
                           host.enrollment_id, Us(request.certificate_expires));
        txn.exec_prepared0("join_token_use", token.id);
        result.host = host;
        MutationLog log;
        log.Record(existing ? "host.reenroll" : "host.enroll", EntityKind::kHost, hostname,
                   existing ? HostToJson(*existing) : "", HostToJson(host));
        return log;
      }));
  return result;
}

absl::Status PostgresStore::RecordSecurityEvents(const std::vector<SecurityEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  // Not a change; but the audit chain is linear only under the inventory lock.
  std::vector<AuditEntry> entries;
  std::vector<MutationContext> contexts;
  for (const SecurityEvent& e : events) {
    entries.push_back({e.action, e.target, "", e.detail_json});
    contexts.push_back({e.actor, e.at});
  }
  uint64_t signed_now = 0;
  KF_RETURN_IF_ERROR(pool_.Transact("record security events", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared("inventory_lock");
    signed_now = 0;
    KF_RETURN_IF_ERROR(AppendAudit(txn, entries, contexts, &signed_now));
    for (const SecurityEvent& e : events) {
      if (e.certificate_expires && !e.hostname.empty()) {
        txn.exec_prepared0("host_certificate_expires", e.hostname, Us(*e.certificate_expires));
      }
    }
    return absl::OkStatus();
  }));
  NoteSigned(signed_now);
  return absl::OkStatus();
}

namespace {

absl::StatusOr<AuditCheckpoint> CheckpointFromRow(const pqxx::row& row) {
  AuditCheckpoint cp;
  cp.id = row[0].as<int64_t>();
  cp.signed_at = absl::FromUnixMicros(row[1].as<int64_t>());
  cp.key_id = row[2].as<std::string>();
  absl::StatusOr<CheckpointEvents> events = ParseCheckpointEvents(row[3].as<std::string>());
  if (!events.ok()) {
    return absl::DataLossError(
        absl::StrCat("audit checkpoint ", cp.id,
                     " has an unreadable events column: ", events.status().message()));
  }
  cp.events = *std::move(events);
  cp.signature = row[4].as<std::string>();
  return cp;
}

// Rows per page when reading the whole audit log: a page is held while its rows are handed
// out. Events are a few hundred bytes (a bulk key import's can be far larger); checkpoints a
// few hundred too, but one signed over an adopted log lists up to kMaxCheckpointEvents.
constexpr int64_t kAuditEventPage = 2000;
constexpr int64_t kAuditCheckpointPage = 500;

// Calls `each` for every audit event by sequence, a page at a time within `txn` (whose snapshot
// they all come from), until `each` fails. Each page starts after the last row of the one
// before, so the loop ends at the end of the table.
absl::Status ForEachAuditEvent(pqxx::dbtransaction& txn,
                               const std::function<absl::Status(const AuditEvent&)>& each) {
  int64_t after = std::numeric_limits<int64_t>::min();
  for (;;) {
    const pqxx::result page = txn.exec_prepared("audit_page", after, kAuditEventPage);
    for (const pqxx::row& row : page) {
      after = row[0].as<int64_t>();
      KF_ASSIGN_OR_RETURN(AuditEvent event, AuditEventFromRow(row));
      KF_RETURN_IF_ERROR(each(event));
    }
    if (static_cast<int64_t>(page.size()) < kAuditEventPage) return absl::OkStatus();
  }
}

// The same for every checkpoint, by id.
absl::Status ForEachCheckpoint(pqxx::dbtransaction& txn,
                               const std::function<absl::Status(const AuditCheckpoint&)>& each) {
  int64_t after = std::numeric_limits<int64_t>::min();
  for (;;) {
    const pqxx::result page = txn.exec_prepared("checkpoint_page", after, kAuditCheckpointPage);
    for (const pqxx::row& row : page) {
      after = row[0].as<int64_t>();
      KF_ASSIGN_OR_RETURN(AuditCheckpoint cp, CheckpointFromRow(row));
      KF_RETURN_IF_ERROR(each(cp));
    }
    if (static_cast<int64_t>(page.size()) < kAuditCheckpointPage) return absl::OkStatus();
  }
}

}  // namespace

absl::Status PostgresStore::VisitAuditLog(const AuditLogVisitor& visitor) {
  return pool_.ReadSnapshot("read the audit log", [&](pqxx::dbtransaction& txn) {
    if (visitor.start) visitor.start();
    if (visitor.checkpoint) KF_RETURN_IF_ERROR(ForEachCheckpoint(txn, visitor.checkpoint));
    if (!visitor.event) return absl::OkStatus();
    return ForEachAuditEvent(txn, visitor.event);
  });
}

absl::StatusOr<std::vector<AuditCheckpoint>> PostgresStore::CheckpointsCovering(uint64_t first,
                                                                                uint64_t last) {
  std::vector<AuditCheckpoint> out;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read audit checkpoints", [&](pqxx::dbtransaction& txn) {
    out.clear();
    pqxx::result r = txn.exec_prepared("checkpoint_covering", static_cast<int64_t>(first),
                                       static_cast<int64_t>(last));
    for (const pqxx::row& row : r) {
      KF_ASSIGN_OR_RETURN(AuditCheckpoint cp, CheckpointFromRow(row));
      out.push_back(std::move(cp));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<uint64_t> PostgresStore::AdoptUnsignedAudit() {
  if (signer_ == nullptr) return absl::FailedPreconditionError("no audit signer");
  uint64_t adopted = 0;
  uint64_t signed_now = 0;
  KF_RETURN_IF_ERROR(pool_.Transact("sign the existing audit log", [&](pqxx::dbtransaction& txn) {
    adopted = 0;
    signed_now = 0;
    txn.exec_prepared("inventory_lock");
    if (!txn.exec_prepared("checkpoint_any").empty()) return absl::OkStatus();
    // Page by page: each batch of kMaxCheckpointEvents is signed as soon as it is read, and
    // everything rolls back if a later event breaks the chain.
    AuditChainVerifier chain;
    CheckpointEvents batch;
    uint64_t head_sequence = 0;
    std::string head_hash;
    KF_RETURN_IF_ERROR(ForEachAuditEvent(txn, [&](const AuditEvent& e) -> absl::Status {
      chain.Add(e);
      if (!chain.result().ok) {
        return absl::FailedPreconditionError(
            absl::StrCat("the existing audit log does not verify, so it is left unsigned: ",
                         chain.result().detail));
      }
      batch.emplace_back(e.sequence, e.hash);
      if (batch.size() == kMaxCheckpointEvents) {
        KF_RETURN_IF_ERROR(InsertCheckpoint(txn, std::exchange(batch, {}), &signed_now));
      }
      ++adopted;
      head_sequence = e.sequence;
      head_hash = e.hash;
      return absl::OkStatus();
    }));
    if (adopted == 0) return absl::OkStatus();
    if (!batch.empty()) KF_RETURN_IF_ERROR(InsertCheckpoint(txn, std::move(batch), &signed_now));
    // The adoption itself is on the record, signed like any event.
    const std::string note = nlohmann::json{
        {"events", adopted},
        {"head_sequence", head_sequence},
        {"head_hash", head_hash},
        {"key_id",
         signer_->key_id()}}.dump();
    KF_RETURN_IF_ERROR(AppendAudit(txn, {{"audit.adopt", "audit log", "", note}},
                                   {{"controller", absl::Now()}}, &signed_now));
    return absl::OkStatus();
  }));
  NoteSigned(signed_now);
  return adopted;
}

absl::Status PostgresStore::RecordHostReports(const std::vector<HostReport>& reports) {
  if (reports.empty()) return absl::OkStatus();
  std::vector<std::string> hostnames, digests, drifts, host_keys, failed, observed, public_keys,
      revocations_errors, key_files;
  std::vector<int64_t> ats, generations;
  for (const HostReport& r : reports) {
    hostnames.push_back(r.hostname);
    ats.push_back(Us(r.at));
    generations.push_back(static_cast<int64_t>(r.applied_generation));
    digests.push_back(r.applied_digest);
    drifts.push_back(r.drift_json);
    host_keys.push_back(nlohmann::json(r.host_key_fingerprints).dump());
    failed.push_back(r.failed_accounts_json);
    observed.push_back(r.observed_json);
    public_keys.push_back(nlohmann::json(r.host_public_keys).dump());
    revocations_errors.push_back(r.revocations_error);
    key_files.push_back(KeyFilesModeName(r.key_files));
  }
  // Sessions ended: summed per (fingerprint, host), and one audit event per report saying so.
  std::vector<std::string> ended_fingerprints, ended_hosts;
  std::vector<int64_t> ended_counts, ended_ats;
  std::vector<AuditEntry> ended_audit;
  std::vector<MutationContext> ended_contexts;
  for (const HostReport& r : reports) {
    if (r.sessions_ended.empty()) continue;
    nlohmann::json keys = nlohmann::json::array();
    for (const SessionsEndedCount& e : r.sessions_ended) {
      ended_fingerprints.push_back(e.fingerprint);
      ended_hosts.push_back(r.hostname);
      ended_counts.push_back(e.count);
      ended_ats.push_back(Us(r.at));
      keys.push_back({{"fingerprint", e.fingerprint}, {"count", e.count}});
    }
    ended_audit.push_back({"host.sessions.end", r.hostname, "",
                           nlohmann::json{{"sessions_ended", std::move(keys)}}.dump()});
    ended_contexts.push_back({absl::StrCat("host:", r.hostname), r.at});
  }
  uint64_t signed_now = 0;
  KF_RETURN_IF_ERROR(pool_.Transact("record host reports", [&](pqxx::dbtransaction& txn) {
    signed_now = 0;
    if (!ended_audit.empty()) {
      // The audit chain is linear only under the inventory lock; taken first, as mutations do.
      txn.exec_prepared("inventory_lock");
    }
    txn.exec_prepared0("host_reports", PgTextArray(hostnames), PgBigintArray(ats),
                       PgBigintArray(generations), PgTextArray(digests), PgTextArray(drifts),
                       PgTextArray(host_keys), PgTextArray(failed), PgTextArray(observed),
                       PgTextArray(public_keys), PgTextArray(revocations_errors),
                       PgTextArray(key_files));
    if (!ended_audit.empty()) {
      txn.exec_prepared0("sessions_ended_record", PgTextArray(ended_fingerprints),
                         PgTextArray(ended_hosts), PgBigintArray(ended_counts),
                         PgBigintArray(ended_ats));
      KF_RETURN_IF_ERROR(AppendAudit(txn, ended_audit, ended_contexts, &signed_now));
    }
    return absl::OkStatus();
  }));
  NoteSigned(signed_now);
  return absl::OkStatus();
}

absl::Status PostgresStore::RecordKeyUses(const std::vector<KeyUseRecord>& uses) {
  if (uses.empty()) return absl::OkStatus();
  // One row per (fingerprint, host, account) in a statement: ON CONFLICT may touch a row once.
  std::map<std::tuple<std::string, std::string, std::string>, const KeyUseRecord*> newest;
  for (const KeyUseRecord& u : uses) {
    const KeyUseRecord*& slot = newest[{u.fingerprint, u.hostname, u.account}];
    if (slot == nullptr || slot->last_used < u.last_used) slot = &u;
  }
  std::vector<std::string> fingerprints, hostnames, accounts, addresses;
  std::vector<int64_t> times;
  for (const auto& [key, u] : newest) {
    fingerprints.push_back(u->fingerprint);
    hostnames.push_back(u->hostname);
    accounts.push_back(u->account);
    times.push_back(Us(u->last_used));
    addresses.push_back(u->from_address);
  }
  return pool_.Transact("record key uses", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("key_uses_record", PgTextArray(fingerprints), PgTextArray(hostnames),
                       PgTextArray(accounts), PgBigintArray(times), PgTextArray(addresses));
    return absl::OkStatus();
  });
}

absl::StatusOr<KeyUsage> PostgresStore::KeyUsageOf(const std::string& fingerprint, size_t limit) {
  KeyUsage usage;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read a key's uses", [&](pqxx::dbtransaction& txn) {
    usage = KeyUsage();
    for (const pqxx::row& row :
         txn.exec_prepared("key_uses_of", fingerprint, static_cast<int64_t>(limit))) {
      usage.uses.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                            row[2].as<std::string>(), absl::FromUnixMicros(row[3].as<int64_t>()),
                            row[4].as<std::string>()});
    }
    for (const pqxx::row& row :
         txn.exec_prepared("sessions_ended_of", fingerprint, static_cast<int64_t>(limit))) {
      usage.sessions_ended.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                                      row[2].as<uint64_t>(),
                                      absl::FromUnixMicros(row[3].as<int64_t>())});
    }
    return absl::OkStatus();
  }));
  return usage;
}

absl::StatusOr<std::map<std::string, absl::Time>> PostgresStore::AllLastKeyUses() {
  std::map<std::string, absl::Time> last;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read keys' last uses", [&](pqxx::dbtransaction& txn) {
    last = LastKeyUsesIn(txn);
    return absl::OkStatus();
  }));
  return last;
}

absl::StatusOr<std::string> PostgresStore::HostObservedJson(const std::string& hostname) {
  std::optional<std::string> observed;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read a host's key lines", [&](pqxx::dbtransaction& txn) {
    pqxx::result r = txn.exec_prepared("host_observed", hostname);
    observed.reset();
    if (!r.empty()) observed = r[0][0].as<std::string>();
    return absl::OkStatus();
  }));
  if (!observed) return HostNotFoundError(hostname);
  return *observed;
}

absl::Status PostgresStore::TouchHosts(const std::vector<std::string>& hostnames, absl::Time at) {
  if (hostnames.empty()) return absl::OkStatus();
  return pool_.Transact("mark hosts seen", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("hosts_touch", PgTextArray(hostnames), Us(at));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<HostRecord>> PostgresStore::ListHosts() {
  std::vector<HostRecord> hosts;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list hosts", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(hosts, AllRows<HostRecord>(txn, "host_all", HostFromRow));
    return absl::OkStatus();
  }));
  return hosts;
}

absl::StatusOr<std::vector<HostRecord>> PostgresStore::FindHostsWithoutDrift(
    const std::vector<std::string>& hostnames) {
  std::vector<HostRecord> hosts;
  if (hostnames.empty()) return hosts;
  const std::string names = PgTextArray(hostnames);
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read hosts", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(hosts, AllRows<HostRecord>(txn, "host_named_no_drift", HostFromRow, names));
    return absl::OkStatus();
  }));
  return hosts;
}

absl::StatusOr<std::optional<HostRecord>> PostgresStore::FindHost(const std::string& hostname) {
  std::optional<HostRecord> host;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("read a host", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(std::vector<HostRecord> rows,
                        AllRows<HostRecord>(txn, "host_by_name", HostFromRow, hostname));
    host.reset();
    if (!rows.empty()) host = std::move(rows.front());
    return absl::OkStatus();
  }));
  return host;
}

absl::StatusOr<std::vector<HostRecord>> PostgresStore::ListHostsAfter(const std::string& after,
                                                                      size_t limit) {
  std::vector<HostRecord> hosts;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list hosts", [&](pqxx::dbtransaction& txn) {
    KF_ASSIGN_OR_RETURN(hosts, AllRows<HostRecord>(txn, "host_page", HostFromRow, after,
                                                   static_cast<int64_t>(limit)));
    return absl::OkStatus();
  }));
  return hosts;
}

absl::StatusOr<std::vector<AuditEvent>> PostgresStore::ListAudit(uint64_t after, absl::Time since,
                                                                 size_t limit) {
  std::vector<AuditEvent> events;
  if (since == absl::InfinitePast()) since = absl::UnixEpoch();
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list audit events", [&](pqxx::dbtransaction& txn) {
    events.clear();
    pqxx::result r = txn.exec_prepared("audit_list", static_cast<int64_t>(after), Us(since),
                                       static_cast<int64_t>(limit));
    for (const pqxx::row& row : r) {
      KF_ASSIGN_OR_RETURN(AuditEvent e, AuditEventFromRow(row));
      events.push_back(std::move(e));
    }
    return absl::OkStatus();
  }));
  return events;
}

absl::StatusOr<std::vector<AuditEvent>> PostgresStore::ListAuditNewest(uint64_t before,
                                                                       absl::Time since,
                                                                       size_t limit) {
  std::vector<AuditEvent> events;
  if (since == absl::InfinitePast()) since = absl::UnixEpoch();
  const int64_t bound = before == 0 || before > static_cast<uint64_t>(INT64_MAX)
                            ? INT64_MAX
                            : static_cast<int64_t>(before);
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list audit events", [&](pqxx::dbtransaction& txn) {
    events.clear();
    pqxx::result r =
        txn.exec_prepared("audit_list_newest", bound, Us(since), static_cast<int64_t>(limit));
    for (const pqxx::row& row : r) {
      KF_ASSIGN_OR_RETURN(AuditEvent e, AuditEventFromRow(row));
      events.push_back(std::move(e));
    }
    return absl::OkStatus();
  }));
  return events;
}

}  // namespace keyfleet::controller
