#include "controller/store/pg_rows.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/record_json.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

absl::Time Micros(const pqxx::field& f) {
  return absl::FromUnixMicros(f.as<int64_t>());
}

std::optional<absl::Time> OptionalMicros(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return Micros(f);
}

template <typename T, typename Parse>
absl::StatusOr<T> Enum(const pqxx::field& f, Parse parse) {
  std::string text = f.as<std::string>();
  std::optional<T> value = parse(text);
  if (!value) {
    return absl::DataLossError(
        absl::StrCat("unexpected value \"", text, "\" in column ", f.name()));
  }
  return *value;
}

}  // namespace

absl::StatusOr<PrincipalRecord> PrincipalFromRow(const pqxx::row& row) {
  PrincipalRecord p;
  p.name = row[0].as<std::string>();
  KF_ASSIGN_OR_RETURN(p.kind, Enum<PrincipalKind>(row[1], ParsePrincipalKind));
  p.email = row[2].as<std::string>();
  p.disabled = row[3].as<bool>();
  p.created_at = Micros(row[4]);
  return p;
}

absl::StatusOr<KeyRecord> KeyFromRow(const pqxx::row& row) {
  KeyRecord k;
  k.fingerprint = row[0].as<std::string>();
  k.principal = row[1].as<std::string>();
  k.type = row[2].as<std::string>();
  k.bits = row[3].as<uint32_t>();
  k.public_key = row[4].as<std::string>();
  k.comment = row[5].as<std::string>();
  k.label = row[6].as<std::string>();
  k.created_at = Micros(row[7]);
  k.expires_at = Micros(row[8]);
  KF_ASSIGN_OR_RETURN(k.state, Enum<KeyState>(row[9], ParseKeyState));
  k.successor_fingerprint = row[10].as<std::string>();
  KF_ASSIGN_OR_RETURN(k.source, Enum<KeySource>(row[11], ParseKeySource));
  k.revocation_reason = row[12].as<std::string>();
  k.revoked_at = OptionalMicros(row[13]);
  k.revocation_ends_sessions = row[14].as<bool>();
  return k;
}

absl::StatusOr<GrantRecord> GrantFromRow(const pqxx::row& row) {
  GrantRecord g;
  g.id = row[0].as<int64_t>();
  g.principal = row[1].as<std::string>();
  g.key_fingerprint = row[2].as<std::string>();
  KF_ASSIGN_OR_RETURN(g.hosts.labels, LabelsFromJson(row[3].as<std::string>()));
  g.hosts.hostname_glob = row[4].as<std::string>();
  g.account = row[5].as<std::string>();
  g.options = row[6].as<std::string>();
  g.expires_at = OptionalMicros(row[7]);
  g.allow_root = row[8].as<bool>();
  g.created_at = Micros(row[9]);
  return g;
}

absl::StatusOr<HostRecord> HostFromRow(const pqxx::row& row) {
  HostRecord h;
  h.hostname = row[0].as<std::string>();
  KF_ASSIGN_OR_RETURN(h.labels, LabelsFromJson(row[1].as<std::string>()));
  h.first_seen = Micros(row[2]);
  h.last_seen = Micros(row[3]);
  h.applied_generation = row[4].as<uint64_t>();
  h.applied_digest = row[5].as<std::string>();
  h.drift_json = row[6].as<std::string>();
  try {
    h.host_key_fingerprints =
        nlohmann::json::parse(row[7].as<std::string>()).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("host ", h.hostname, ": malformed host_key_fingerprints: ", e.what()));
  }
  h.enrollment_id = row[8].as<std::string>();
  h.enrolled_at = OptionalMicros(row[9]);
  h.certificate_expires = OptionalMicros(row[10]);
  h.failed_accounts_json = row[11].as<std::string>();
  try {
    h.host_public_keys =
        nlohmann::json::parse(row[12].as<std::string>()).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("host ", h.hostname, ": malformed host_public_keys: ", e.what()));
  }
  h.revocations_error = row[13].as<std::string>();
  const std::string key_files = row[14].as<std::string>();
  std::optional<KeyFilesMode> mode = ParseKeyFilesMode(key_files);
  if (!mode) {
    return absl::DataLossError(
        absl::StrCat("host ", h.hostname, ": unknown key_files \"", key_files, "\""));
  }
  h.key_files = *mode;
  return h;
}

absl::StatusOr<JoinTokenRecord> JoinTokenFromRow(const pqxx::row& row) {
  JoinTokenRecord t;
  t.id = row[0].as<std::string>();
  t.secret_hash = row[1].as<std::string>();
  t.hostname = row[2].as<std::string>();
  KF_ASSIGN_OR_RETURN(t.labels, LabelsFromJson(row[3].as<std::string>()));
  t.created_at = Micros(row[4]);
  t.expires_at = Micros(row[5]);
  t.uses_allowed = row[6].as<uint32_t>();
  t.uses = row[7].as<uint32_t>();
  t.revoked_at = OptionalMicros(row[8]);
  t.created_by = row[9].as<std::string>();
  KF_ASSIGN_OR_RETURN(t.creator_scope, LabelsFromJson(row[10].as<std::string>()));
  return t;
}

absl::StatusOr<ApiCredentialRecord> ApiCredentialFromRow(const pqxx::row& row) {
  ApiCredentialRecord c;
  c.id = row[0].as<std::string>();
  c.name = row[1].as<std::string>();
  KF_ASSIGN_OR_RETURN(c.kind, Enum<CredentialKind>(row[2], ParseCredentialKind));
  KF_ASSIGN_OR_RETURN(c.role, Enum<Role>(row[3], ParseRole));
  c.principal = row[4].as<std::string>();
  KF_ASSIGN_OR_RETURN(c.host_scope, LabelsFromJson(row[5].as<std::string>()));
  c.secret_hash = row[6].as<std::string>();
  c.certificate_serial = row[7].as<std::string>();
  c.created_at = Micros(row[8]);
  c.created_by = row[9].as<std::string>();
  c.expires_at = OptionalMicros(row[10]);
  c.revoked_at = OptionalMicros(row[11]);
  c.last_used_at = OptionalMicros(row[12]);
  return c;
}

absl::StatusOr<AuditEvent> AuditEventFromRow(const pqxx::row& row) {
  AuditEvent e;
  e.sequence = row[0].as<uint64_t>();
  e.at = Micros(row[1]);
  e.actor = row[2].as<std::string>();
  e.action = row[3].as<std::string>();
  e.target = row[4].as<std::string>();
  e.before_json = row[5].as<std::string>();
  e.after_json = row[6].as<std::string>();
  e.prev_hash = row[7].as<std::string>();
  e.hash = row[8].as<std::string>();
  return e;
}

absl::StatusOr<Change> ChangeFromRow(const pqxx::row& row) {
  Change c;
  c.sequence = row[0].as<uint64_t>();
  KF_ASSIGN_OR_RETURN(c.entity, Enum<EntityKind>(row[1], ParseEntityKind));
  c.entity_key = row[2].as<std::string>();
  c.after_json = row[3].as<std::string>();
  return c;
}

notify::Notification NotificationFromRow(const pqxx::row& row) {
  notify::Notification n;
  n.id = row[0].as<int64_t>();
  n.event = row[1].as<std::string>();
  n.at = Micros(row[2]);
  n.email_to = row[3].as<std::string>();
  n.subject = row[4].as<std::string>();
  n.text = row[5].as<std::string>();
  n.payload_json = row[6].as<std::string>();
  return n;
}

DeliveryRow DeliveryFromRow(const pqxx::row& row) {
  DeliveryRow d;
  d.id = row[0].as<int64_t>();
  d.outbox_id = row[1].as<int64_t>();
  d.event = row[2].as<std::string>();
  d.sink = row[3].as<std::string>();
  d.state = row[4].as<std::string>();
  d.attempts = row[5].as<int>();
  d.at = Micros(row[6]);
  d.next_attempt_at = Micros(row[7]);
  d.delivered_at = OptionalMicros(row[8]);
  d.last_error = row[9].as<std::string>();
  d.subject = row[10].as<std::string>();
  return d;
}

}  // namespace keyfleet::controller
