// Writing one outbox row inside a caller's transaction (a mutation's, or the scan's).
#pragma once

#include <pqxx/transaction>

#include "controller/store/notification_outbox.h"

namespace keyfleet::controller {

// A row whose dedupe_key was ever written is skipped (ON CONFLICT DO NOTHING).
void InsertOutboxEntry(pqxx::dbtransaction& txn, const OutboxEntry& entry);

}  // namespace keyfleet::controller
