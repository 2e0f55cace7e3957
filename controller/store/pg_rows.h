// Reading the store's rows (in the column order of pg_statements.h) into records.
#pragma once

#include <pqxx/row>

#include "absl/status/statusor.h"
#include "controller/model.h"
#include "controller/store/notification_outbox.h"

namespace keyfleet::controller {

absl::StatusOr<PrincipalRecord> PrincipalFromRow(const pqxx::row& row);
absl::StatusOr<KeyRecord> KeyFromRow(const pqxx::row& row);
absl::StatusOr<GrantRecord> GrantFromRow(const pqxx::row& row);
absl::StatusOr<HostRecord> HostFromRow(const pqxx::row& row);
absl::StatusOr<JoinTokenRecord> JoinTokenFromRow(const pqxx::row& row);
absl::StatusOr<ApiCredentialRecord> ApiCredentialFromRow(const pqxx::row& row);
absl::StatusOr<AuditEvent> AuditEventFromRow(const pqxx::row& row);
absl::StatusOr<Change> ChangeFromRow(const pqxx::row& row);
notify::Notification NotificationFromRow(const pqxx::row& row);  // outbox_new, outbox_by_id
DeliveryRow DeliveryFromRow(const pqxx::row& row);               // delivery_list

}  // namespace keyfleet::controller
