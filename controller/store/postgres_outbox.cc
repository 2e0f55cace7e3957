// PostgresStore's NotificationOutbox: the SQL is in pg_statements.h (outbox_*, delivery_*).
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/store/inventory_errors.h"
#include "controller/store/pg_outbox.h"
#include "controller/store/pg_rows.h"
#include "controller/store/postgres_store.h"

namespace keyfleet::controller {

void InsertOutboxEntry(pqxx::dbtransaction& txn, const OutboxEntry& e) {
  std::optional<std::string> dedupe;
  if (!e.dedupe_key.empty()) dedupe = e.dedupe_key;
  txn.exec_prepared0("outbox_insert", e.event, absl::ToUnixMicros(e.at), e.principal, e.subject,
                     e.text, e.payload_json, dedupe);
}

absl::Status PostgresStore::Enqueue(const std::vector<OutboxEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  return pool_.Transact("queue notifications", [&](pqxx::dbtransaction& txn) {
    for (const OutboxEntry& e : entries) InsertOutboxEntry(txn, e);
    return absl::OkStatus();
  });
}

absl::StatusOr<size_t> PostgresStore::FanOut(
    const std::function<std::vector<std::string>(const notify::Notification&)>& sinks_for,
    absl::Time now, size_t limit) {
  size_t taken = 0;
  KF_RETURN_IF_ERROR(pool_.Transact("fan out notifications", [&](pqxx::dbtransaction& txn) {
    taken = 0;
    pqxx::result rows = txn.exec_prepared("outbox_new", static_cast<int64_t>(limit));
    for (const pqxx::row& row : rows) {
      const notify::Notification n = NotificationFromRow(row);
      for (const std::string& sink : sinks_for(n)) {
        txn.exec_prepared0("delivery_insert", n.id, sink, absl::ToUnixMicros(now));
      }
      txn.exec_prepared0("outbox_fanned_out", n.id);
      ++taken;
    }
    return absl::OkStatus();
  }));
  return taken;
}

absl::StatusOr<std::optional<ClaimedDelivery>> PostgresStore::ClaimDue(absl::Time now,
                                                                       absl::Duration lease) {
  std::optional<ClaimedDelivery> claimed;
  KF_RETURN_IF_ERROR(pool_.Transact("claim a notification", [&](pqxx::dbtransaction& txn) {
    claimed.reset();
    pqxx::result r = txn.exec_prepared("delivery_claim", absl::ToUnixMicros(now),
                                       absl::ToUnixMicros(now + lease));
    if (r.empty()) return absl::OkStatus();
    ClaimedDelivery c;
    c.delivery_id = r[0][0].as<int64_t>();
    c.sink = r[0][2].as<std::string>();
    c.attempts = r[0][3].as<int>();
    pqxx::result o = txn.exec_prepared("outbox_by_id", r[0][1].as<int64_t>());
    if (o.empty()) return absl::DataLossError("a delivery without its outbox row");
    c.notification = NotificationFromRow(o[0]);
    claimed = std::move(c);
    return absl::OkStatus();
  }));
  return claimed;
}

absl::Status PostgresStore::MarkDelivered(int64_t delivery_id, absl::Time now) {
  return pool_.Transact("record a delivery", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("delivery_delivered", delivery_id, absl::ToUnixMicros(now));
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::MarkRetry(int64_t delivery_id, absl::Time retry_at,
                                      const std::string& error) {
  return pool_.Transact("record a failed delivery", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("delivery_retry", delivery_id, absl::ToUnixMicros(retry_at), error);
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::MarkDead(int64_t delivery_id, const std::string& error) {
  return pool_.Transact("dead-letter a delivery", [&](pqxx::dbtransaction& txn) {
    txn.exec_prepared0("delivery_dead", delivery_id, error);
    return absl::OkStatus();
  });
}

absl::StatusOr<DeliveryCounts> PostgresStore::CountDeliveries() {
  DeliveryCounts counts;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("count notifications", [&](pqxx::dbtransaction& txn) {
    counts = DeliveryCounts();
    counts.not_fanned_out = txn.exec_prepared1("outbox_unfanned_count")[0].as<uint64_t>();
    for (const pqxx::row& row : txn.exec_prepared("delivery_counts")) {
      const std::string state = row[0].as<std::string>();
      const uint64_t n = row[1].as<uint64_t>();
      if (state == "pending") counts.pending = n;
      if (state == "delivered") counts.delivered = n;
      if (state == "dead") counts.dead = n;
    }
    return absl::OkStatus();
  }));
  return counts;
}

absl::StatusOr<std::vector<DeliveryRow>> PostgresStore::ListDeliveries(const std::string& state,
                                                                       size_t limit) {
  std::vector<DeliveryRow> rows;
  KF_RETURN_IF_ERROR(pool_.ReadSnapshot("list notifications", [&](pqxx::dbtransaction& txn) {
    rows.clear();
    for (const pqxx::row& r :
         txn.exec_prepared("delivery_list", state, static_cast<int64_t>(limit))) {
      rows.push_back(DeliveryFromRow(r));
    }
    return absl::OkStatus();
  }));
  return rows;
}

absl::Status PostgresStore::RetryDelivery(int64_t delivery_id, absl::Time now) {
  return pool_.Transact("retry a delivery", [&](pqxx::dbtransaction& txn) -> absl::Status {
    pqxx::result r = txn.exec_prepared("delivery_by_id", delivery_id);
    if (r.empty()) {
      return absl::NotFoundError(
          absl::StrCat("no notification delivery ", delivery_id, "; see keyfleet notify status"));
    }
    const std::string state = r[0][0].as<std::string>();
    if (state != "dead") {
      return absl::FailedPreconditionError(
          absl::StrCat("delivery ", delivery_id, " is ", state,
                       "; only dead-lettered deliveries are retried by hand"));
    }
    txn.exec_prepared("delivery_requeue", delivery_id, absl::ToUnixMicros(now));
    return absl::OkStatus();
  });
}

}  // namespace keyfleet::controller
