// JSON forms of the controller's records: the change feed's payloads and the audit log's
// before/after. Times are RFC 3339 UTC with microseconds ("2026-11-21T10:00:00.000000Z"), the
// precision PostgreSQL keeps. Parsing is strict: a missing or mistyped field is an error, since a
// payload that does not parse means the feed and this binary disagree about the schema.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/model.h"

namespace keyfleet::controller {

std::string FormatRecordTime(absl::Time t);
absl::StatusOr<absl::Time> ParseRecordTime(const std::string& text);

// Drops sub-microsecond precision, so a record compares equal after a round trip through the
// database.
absl::Time TruncateToMicros(absl::Time t);

std::string PrincipalToJson(const PrincipalRecord& p);
absl::StatusOr<PrincipalRecord> PrincipalFromJson(const std::string& json);
std::string KeyToJson(const KeyRecord& k);
absl::StatusOr<KeyRecord> KeyFromJson(const std::string& json);
// A bulk add's change: what the keys share (principal, label, source, created_at; all active)
// once, then [fingerprint, type, bits, public_key, comment, expires_at] per key.
std::string KeysToJson(const std::vector<KeyRecord>& keys);
absl::StatusOr<std::vector<KeyRecord>> KeysFromJson(const std::string& json);
// The audit entry of a bulk add: what every key shares (principal, label, source, times), the
// count, and each key's fingerprint and type, without the key material (in the keys table).
std::string KeyBatchAuditJson(const std::vector<KeyRecord>& keys);
std::string GrantToJson(const GrantRecord& g);
absl::StatusOr<GrantRecord> GrantFromJson(const std::string& json);
// The host's registration: hostname, labels, first_seen. Reports are not part of it.
std::string HostToJson(const HostRecord& h);
absl::StatusOr<HostRecord> HostFromJson(const std::string& json);
std::string PolicyToJson(const PolicyRecord& p);
absl::StatusOr<PolicyRecord> PolicyFromJson(const std::string& json);
std::string LabelsToJson(const Labels& labels);
// For the audit log: never the secret's hash.
std::string JoinTokenToJson(const JoinTokenRecord& t);
// For the audit log: never the secret's hash, nor when it was last used.
std::string ApiCredentialToJson(const ApiCredentialRecord& c);
// For the change feed, which every replica follows to authenticate callers from memory: the
// audit form plus the token secret's hash (a hash, as in the credentials table; never the
// secret). Never in the audit log.
std::string ApiCredentialStateJson(const ApiCredentialRecord& c);
absl::StatusOr<ApiCredentialRecord> ApiCredentialFromJson(const std::string& json);
absl::StatusOr<Labels> LabelsFromJson(const std::string& json);

}  // namespace keyfleet::controller
