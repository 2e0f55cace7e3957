// Conversions between the controller's records and the keyfleet.v1 protos.
#pragma once

#include "absl/status/statusor.h"
#include "controller/desired_state.h"
#include "controller/handlers/report_handlers.h"
#include "controller/model.h"
#include "keyfleet/v1/admin.pb.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {

void ToProto(absl::Time t, google::protobuf::Timestamp* out);
v1::AccessState ToProto(AccessState state);
void ToProto(const AccountAccessFacts& facts, v1::AccountAccess* out);
absl::Time FromProto(const google::protobuf::Timestamp& t);
void ToProto(absl::Duration d, google::protobuf::Duration* out);
absl::Duration FromProto(const google::protobuf::Duration& d);

// The range of times and durations a request may carry: what PostgreSQL's timestamptz and every
// later computation hold without overflowing. INVALID_ARGUMENT naming `field` and the range.
inline constexpr int64_t kMinRequestUnixSeconds = 0;                    // 1970-01-01T00:00:00Z
inline constexpr int64_t kMaxRequestUnixSeconds = 253402300799;         // 9999-12-31T23:59:59Z
inline constexpr int64_t kMaxRequestDurationSeconds = 36500LL * 86400;  // 100 years
absl::Status CheckRequestTime(absl::string_view field, const google::protobuf::Timestamp& t);
absl::Status CheckRequestDuration(absl::string_view field, const google::protobuf::Duration& d);

void ToProto(const PrincipalRecord& p, v1::Principal* out);
// `state` is the effective state ("expired" included), see FleetView::EffectiveKeyState.
void ToProto(const KeyRecord& k, const std::string& state, v1::Key* out);
// GetKey's uses and sessions ended.
void ToProto(const KeyUsage& usage, v1::Key* out);
// The uses as sent, hostname unset (AgentHandlers::RecordKeyUses sets it and checks the rest);
// an unset last_used is InfinitePast.
std::vector<KeyUseRecord> FromProto(const v1::KeyUseReport& report);
void ToProto(const GrantRecord& g, v1::Grant* out);
GrantRecord FromProto(const v1::Grant& g);
HostSelector FromProto(const v1::HostSelector& s);
void ToProto(const HostStatus& h, v1::Host* out);
void ToProto(const AccountFailureRecord& f, v1::AccountFailure* out);
void ToProto(const PolicyRecord& p, v1::Policy* out);
// Never the secret or its hash. `state` as of `now`.
void ToProto(const JoinTokenRecord& t, absl::Time now, v1::HostToken* out);
// Never the secret or its hash.
void ToProto(const ApiCredentialRecord& c, v1::Credential* out);
v1::Role ToProto(Role role);
// INVALID_ARGUMENT for ROLE_UNSPECIFIED or an unknown value, listing the roles.
absl::StatusOr<Role> FromProto(v1::Role role);
// Unset fields of `p` keep the values of `base`; type names are checked.
absl::StatusOr<PolicyRecord> FromProto(const v1::Policy& p, const PolicyRecord& base);
void ToProto(const AuditEvent& e, v1::AuditEvent* out);
// With the fleet's revocations every desired state carries (agent.proto's Revocations; none
// when `s` has none).
void ToProto(const HostDesiredState& s, v1::DesiredState* out);
// What `hostname`'s agent reported (drift items as a JSON array); the time is left unset.
// Host public keys are kept only when ParsePublicKey accepts them as plain keys (an agent parses
// them with the same parser: others come from a broken agent, and are not vouched for), re-
// rendered "TYPE BASE64"; the revocations error is cut and stripped of control characters.
HostReport FromProto(const std::string& hostname, const v1::ReportRequest& req);
absl::StatusOr<PrincipalKind> FromProto(v1::PrincipalKind kind);
// nullopt for KEY_STATE_UNSPECIFIED.
std::optional<std::string> FromProto(v1::KeyState state);

}  // namespace keyfleet::controller
