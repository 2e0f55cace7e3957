// The table of field_limits.h. One row per field, in the order of the protos; the unit test
// fails for a field without a row and for a row without a field.
#include "controller/service/field_limits.h"

#include "absl/time/time.h"
#include "common/host_names.h"
#include "common/key_policy.h"
#include "common/key_use_limits.h"
#include "common/source_address_match.h"
#include "controller/ca/certificate_authority.h"
#include "controller/credential_rules.h"
#include "controller/enrollment_rules.h"
#include "controller/handlers/notify_handlers.h"
#include "controller/service/page_token.h"
#include "controller/service/proto_convert.h"
#include "keyfleet/v1/admin.pb.h"

namespace keyfleet::controller {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kMaxKeyAgeSeconds = 3650 * kDay;  // ValidatePolicy's bound

// Row makers, one per kind of field.
FieldLimit Text(absl::string_view field, size_t bytes, absl::string_view from) {
  return {field, bytes, 0, ValueRule::kNone, 0, 0, from};
}
FieldLimit Texts(absl::string_view field, size_t count, size_t bytes, absl::string_view from) {
  return {field, bytes, count, ValueRule::kNone, 0, 0, from};
}
FieldLimit Entries(absl::string_view field, size_t count, absl::string_view from) {
  return {field, 0, count, ValueRule::kNone, 0, 0, from};
}
FieldLimit Range(absl::string_view field, int64_t min, int64_t max, absl::string_view from) {
  return {field, 0, 0, ValueRule::kRange, min, max, from};
}
// Documented with the range its handler enforces; not checked here.
FieldLimit ByHandler(absl::string_view field, int64_t min, int64_t max, absl::string_view from) {
  return {field, 0, 0, ValueRule::kByHandler, min, max, from};
}
FieldLimit AnyValue(absl::string_view field, absl::string_view from) {
  return {field, 0, 0, ValueRule::kAnyValue, 0, 0, from};
}
FieldLimit TimeByHandler(absl::string_view field) {
  return ByHandler(field, kMinRequestUnixSeconds, kMaxRequestUnixSeconds, "CheckRequestTime");
}
FieldLimit DurationByHandler(absl::string_view field) {
  return ByHandler(field, 0, kMaxRequestDurationSeconds, "CheckRequestDuration");
}
FieldLimit Label(absl::string_view field) {
  return Text(field, kMaxLabelBytes, "kMaxLabelBytes");
}
FieldLimit Labels(absl::string_view field) {
  return Entries(field, kMaxLabels, "kMaxLabels");
}
FieldLimit Principal(absl::string_view field) {
  return Text(field, kMaxPrincipalNameBytes, "kMaxPrincipalNameBytes");
}
FieldLimit Hostname(absl::string_view field) {
  return Text(field, kMaxHostnameBytes, "kMaxHostnameBytes");
}
FieldLimit Account(absl::string_view field) {
  return Text(field, kMaxAccountNameBytes, "kMaxAccountNameBytes");
}
FieldLimit Fingerprint(absl::string_view field) {
  return Text(field, kMaxFingerprintBytes, "kMaxFingerprintBytes");
}
FieldLimit KeyLabel(absl::string_view field) {
  return Text(field, kMaxKeyLabelBytes, "kMaxKeyLabelBytes");
}
FieldLimit Keyword(absl::string_view field) {
  return Text(field, kMaxKeywordBytes, "kMaxKeywordBytes");
}
// A list's page size and token (page_token.h); `from` names the default.
FieldLimit PageSizeLimit(absl::string_view field, absl::string_view from) {
  return ByHandler(field, 0, kMaxPageSize, from);
}
FieldLimit PageTokenLimit(absl::string_view field) {
  return Text(field, kMaxPageTokenBytes, "kMaxPageTokenBytes");
}

std::vector<FieldLimit> MakeTable() {
  const int64_t kInt64Max = INT64_MAX;
  return {
      // admin.proto
      Principal("keyfleet.v1.AddPrincipalRequest.name"),
      ByHandler("keyfleet.v1.AddPrincipalRequest.kind", 0, v1::PrincipalKind_MAX,
                "FromProto(PrincipalKind)"),
      Text("keyfleet.v1.AddPrincipalRequest.email", kMaxEmailBytes, "kMaxEmailBytes"),
      PageSizeLimit("keyfleet.v1.ListPrincipalsRequest.page_size", "PageSize (0: 5,000)"),
      PageTokenLimit("keyfleet.v1.ListPrincipalsRequest.page_token"),
      Principal("keyfleet.v1.DisablePrincipalRequest.name"),
      Principal("keyfleet.v1.AddKeysRequest.principal"),
      Texts("keyfleet.v1.AddKeysRequest.public_keys", kMaxKeysPerAddRequest, kMaxPublicKeyLineBytes,
            "kMaxKeysPerAddRequest, kMaxPublicKeyLineBytes"),
      KeyLabel("keyfleet.v1.AddKeysRequest.label"),
      Principal("keyfleet.v1.ListKeysRequest.principal"),
      Range("keyfleet.v1.ListKeysRequest.state", v1::KeyState_MIN, v1::KeyState_MAX, "KeyState"),
      DurationByHandler("keyfleet.v1.ListKeysRequest.expiring_within"),
      PageSizeLimit("keyfleet.v1.ListKeysRequest.page_size", "PageSize (0: 5,000)"),
      PageTokenLimit("keyfleet.v1.ListKeysRequest.page_token"),
      DurationByHandler("keyfleet.v1.ListKeysRequest.unused_for"),
      Fingerprint("keyfleet.v1.GetKeyRequest.fingerprint"),
      Fingerprint("keyfleet.v1.LabelKeyRequest.fingerprint"),
      KeyLabel("keyfleet.v1.LabelKeyRequest.label"),
      Fingerprint("keyfleet.v1.RemoveKeyRequest.fingerprint"),
      Fingerprint("keyfleet.v1.RotateKeyRequest.old_fingerprint"),
      Text("keyfleet.v1.RotateKeyRequest.public_key", kMaxPublicKeyLineBytes,
           "kMaxPublicKeyLineBytes"),
      KeyLabel("keyfleet.v1.RotateKeyRequest.label"),
      DurationByHandler("keyfleet.v1.RotateKeyRequest.overlap"),
      Keyword("keyfleet.v1.RotateKeyRequest.generate_type"),
      Principal("keyfleet.v1.GenerateKeyRequest.principal"),
      Keyword("keyfleet.v1.GenerateKeyRequest.type"),
      KeyLabel("keyfleet.v1.GenerateKeyRequest.label"),
      Fingerprint("keyfleet.v1.RevokeKeyRequest.fingerprint"),
      Text("keyfleet.v1.RevokeKeyRequest.reason", kMaxReasonBytes, "kMaxReasonBytes"),
      Hostname("keyfleet.v1.ListGrantsRequest.host"),
      Principal("keyfleet.v1.ListGrantsRequest.principal"),
      PageSizeLimit("keyfleet.v1.ListGrantsRequest.page_size", "PageSize (0: 5,000)"),
      PageTokenLimit("keyfleet.v1.ListGrantsRequest.page_token"),
      Text("keyfleet.v1.RemoveGrantRequest.id", kMaxGrantIdBytes, "kMaxGrantIdBytes"),
      PageSizeLimit("keyfleet.v1.ListHostsRequest.page_size", "PageSize (0: 1,000)"),
      PageTokenLimit("keyfleet.v1.ListHostsRequest.page_token"),
      Hostname("keyfleet.v1.GetHostRequest.hostname"),
      PageSizeLimit("keyfleet.v1.KnownHostsRequest.page_size", "PageSize (0: 1,000)"),
      PageTokenLimit("keyfleet.v1.KnownHostsRequest.page_token"),
      Hostname("keyfleet.v1.LabelHostRequest.hostname"),
      Labels("keyfleet.v1.LabelHostRequest.set"),
      Label("keyfleet.v1.LabelHostRequest.SetEntry.key"),
      Label("keyfleet.v1.LabelHostRequest.SetEntry.value"),
      Texts("keyfleet.v1.LabelHostRequest.remove", kMaxLabels, kMaxLabelBytes,
            "kMaxLabels, kMaxLabelBytes"),
      Hostname("keyfleet.v1.RemoveHostRequest.hostname"),
      Hostname("keyfleet.v1.CreateHostTokenRequest.hostname"),
      Labels("keyfleet.v1.CreateHostTokenRequest.labels"),
      Label("keyfleet.v1.CreateHostTokenRequest.LabelsEntry.key"),
      Label("keyfleet.v1.CreateHostTokenRequest.LabelsEntry.value"),
      ByHandler("keyfleet.v1.CreateHostTokenRequest.ttl", 1, absl::ToInt64Seconds(kMaxJoinTokenTtl),
                "kMaxJoinTokenTtl (unset: 1h)"),
      ByHandler("keyfleet.v1.CreateHostTokenRequest.uses", 0, kMaxJoinTokenUses,
                "kMaxJoinTokenUses (0: 1)"),
      PageSizeLimit("keyfleet.v1.ListHostTokensRequest.page_size", "PageSize (0: 1,000)"),
      PageTokenLimit("keyfleet.v1.ListHostTokensRequest.page_token"),
      Text("keyfleet.v1.RevokeHostTokenRequest.id", kMaxTokenTextBytes, "kMaxTokenTextBytes"),
      {"keyfleet.v1.SetPolicyRequest.inherit", 0, kMaxInheritKinds, ValueRule::kByHandler, 0,
       v1::PrincipalKind_MAX, "kMaxInheritKinds; FromProto(PrincipalKind)"},
      Hostname("keyfleet.v1.AccessReviewRequest.hostname"),
      Account("keyfleet.v1.AccessReviewRequest.account"),
      Hostname("keyfleet.v1.VerifyAccessRequest.hostname"),
      Account("keyfleet.v1.VerifyAccessRequest.account"),
      Fingerprint("keyfleet.v1.VerifyAccessRequest.fingerprint"),
      Text("keyfleet.v1.VerifyAccessRequest.from_address", kMaxSourceAddressBytes,
           "kMaxSourceAddressBytes"),
      TimeByHandler("keyfleet.v1.ListAuditRequest.since"),
      PageSizeLimit("keyfleet.v1.ListAuditRequest.page_size", "PageSize (0: 1,000)"),
      PageTokenLimit("keyfleet.v1.ListAuditRequest.page_token"),
      TimeByHandler("keyfleet.v1.ExportAuditRequest.since"),
      DurationByHandler("keyfleet.v1.ComplianceReportRequest.stale_after"),
      ByHandler("keyfleet.v1.FleetStatusRequest.list_limit", 0, kMaxFleetListLimit,
                "kMaxFleetListLimit (0: 100)"),
      Fingerprint("keyfleet.v1.KeyReachRequest.fingerprint"),
      Principal("keyfleet.v1.KeyReachRequest.principal"),
      ByHandler("keyfleet.v1.KeyReachRequest.limit", 0, kMaxReachLimit,
                "kMaxReachLimit (0: 1,000)"),
      AnyValue("keyfleet.v1.RolloutStatusRequest.change", "0: the latest; NOT_FOUND if unknown"),
      Keyword("keyfleet.v1.NotifyStatusRequest.state"),
      ByHandler("keyfleet.v1.NotifyStatusRequest.limit", 0, NotifyHandlers::kMaxListLimit,
                "NotifyHandlers::kMaxListLimit (0: 50)"),
      ByHandler("keyfleet.v1.NotifyRetryRequest.id", 1, kInt64Max, "NotifyHandlers::Retry"),
      Text("keyfleet.v1.IssueAdminCertificateRequest.csr_pem", kMaxCsrPemBytes, "kMaxCsrPemBytes"),
      PageSizeLimit("keyfleet.v1.ListTokensRequest.page_size", "PageSize (0: 1,000)"),
      PageTokenLimit("keyfleet.v1.ListTokensRequest.page_token"),
      Text("keyfleet.v1.RevokeTokenRequest.name", kMaxCredentialNameBytes,
           "kMaxCredentialNameBytes (or a 16-digit id)"),
      Text("keyfleet.v1.CredentialSpec.name", kMaxCredentialNameBytes, "kMaxCredentialNameBytes"),
      ByHandler("keyfleet.v1.CredentialSpec.role", v1::ROLE_ADMIN, v1::Role_MAX, "FromProto(Role)"),
      Principal("keyfleet.v1.CredentialSpec.principal"),
      Labels("keyfleet.v1.CredentialSpec.host_scope"),
      Label("keyfleet.v1.CredentialSpec.HostScopeEntry.key"),
      Label("keyfleet.v1.CredentialSpec.HostScopeEntry.value"),
      ByHandler("keyfleet.v1.CredentialSpec.expires", absl::ToInt64Seconds(kMinCredentialLifetime),
                absl::ToInt64Seconds(kMaxCredentialLifetime), "CredentialExpiry (unset: 90d)"),
      // inventory.proto, as admin requests carry it
      Text("keyfleet.v1.Grant.id", kMaxGrantIdBytes, "kMaxGrantIdBytes"),
      Principal("keyfleet.v1.Grant.principal"),
      Fingerprint("keyfleet.v1.Grant.key_fingerprint"),
      Account("keyfleet.v1.Grant.account"),
      Text("keyfleet.v1.Grant.options", kMaxAuthorizedKeysLineBytes, "kMaxAuthorizedKeysLineBytes"),
      TimeByHandler("keyfleet.v1.Grant.expires_at"),
      Range("keyfleet.v1.Grant.created_at", kMinRequestUnixSeconds, kMaxRequestUnixSeconds,
            "request times (AddGrant ignores it)"),
      Labels("keyfleet.v1.HostSelector.labels"),
      Label("keyfleet.v1.HostSelector.LabelsEntry.key"),
      Label("keyfleet.v1.HostSelector.LabelsEntry.value"),
      Hostname("keyfleet.v1.HostSelector.hostname_glob"),
      ByHandler("keyfleet.v1.Policy.max_key_age", kDay, kMaxKeyAgeSeconds, "ValidatePolicy"),
      ByHandler("keyfleet.v1.Policy.warning_window", 0, kMaxKeyAgeSeconds,
                "ValidatePolicy: at most the max key age"),
      ByHandler("keyfleet.v1.Policy.rotation_overlap", 0, kMaxKeyAgeSeconds,
                "ValidatePolicy: at most the max key age"),
      Texts("keyfleet.v1.Policy.allowed_key_types", kMaxPolicyKeyTypes, kMaxKeywordBytes,
            "kMaxPolicyKeyTypes, kMaxKeywordBytes"),
      ByHandler("keyfleet.v1.Policy.min_rsa_bits", kRsaBitsFloor, kMaxRsaModulusBits,
                "ValidateKeyPolicy (0: unchanged)"),
      Range("keyfleet.v1.Policy.unmanaged_keys", v1::UnmanagedKeys_MIN, v1::UnmanagedKeys_MAX,
            "UnmanagedKeys"),
      ByHandler("keyfleet.v1.RotationRule.max_key_age", kDay, kMaxKeyAgeSeconds, "ValidatePolicy"),
      ByHandler("keyfleet.v1.RotationRule.warning_window", 0, kMaxKeyAgeSeconds,
                "ValidatePolicy: at most the max key age"),
      ByHandler("keyfleet.v1.RotationRule.rotation_overlap", 0, kMaxKeyAgeSeconds,
                "ValidatePolicy: at most the max key age"),
      // agent.proto
      Text("keyfleet.v1.EnrollRequest.token", kMaxTokenTextBytes, "kMaxTokenTextBytes"),
      Hostname("keyfleet.v1.EnrollRequest.hostname"),
      Text("keyfleet.v1.EnrollRequest.csr_pem", kMaxCsrPemBytes, "kMaxCsrPemBytes"),
      Text("keyfleet.v1.RenewRequest.csr_pem", kMaxCsrPemBytes, "kMaxCsrPemBytes"),
      Hostname("keyfleet.v1.WatchRequest.hostname"),
      Labels("keyfleet.v1.WatchRequest.labels"),
      Label("keyfleet.v1.WatchRequest.LabelsEntry.key"),
      Label("keyfleet.v1.WatchRequest.LabelsEntry.value"),
      Range("keyfleet.v1.WatchRequest.applied_generation", 0, kInt64Max,
            "a PostgreSQL bigint sequence"),
      Text("keyfleet.v1.WatchRequest.applied_epoch", kMaxEpochBytes, "kMaxEpochBytes"),
      AnyValue("keyfleet.v1.GetRevocationsRequest.offset",
               "an offset into the sorted list (past its end: an empty page)"),
      Hostname("keyfleet.v1.ReportRequest.hostname"),
      Range("keyfleet.v1.ReportRequest.applied_generation", 0, kInt64Max,
            "a PostgreSQL bigint sequence"),
      Entries("keyfleet.v1.ReportRequest.drift", kMaxReportDriftItems, "kMaxReportDriftItems"),
      Texts("keyfleet.v1.ReportRequest.host_key_fingerprints", kMaxHostKeyFingerprints,
            kMaxFingerprintBytes, "kMaxHostKeyFingerprints, kMaxFingerprintBytes"),
      Text("keyfleet.v1.ReportRequest.applied_digest", kMaxDigestBytes, "kMaxDigestBytes"),
      Entries("keyfleet.v1.ReportRequest.failed_accounts", kMaxReportAccounts,
              "kMaxReportAccounts"),
      Entries("keyfleet.v1.ReportRequest.observed", kMaxReportAccounts, "kMaxReportAccounts"),
      Text("keyfleet.v1.ReportRequest.applied_epoch", kMaxEpochBytes, "kMaxEpochBytes"),
      Text("keyfleet.v1.ReportRequest.revocations_error", kMaxReportTextBytes,
           "kMaxReportTextBytes"),
      Texts("keyfleet.v1.ReportRequest.host_public_keys", kMaxReportHostPublicKeys,
            kMaxReportHostPublicKeyBytes, "kMaxReportHostPublicKeys, kMaxReportHostPublicKeyBytes"),
      Range("keyfleet.v1.ReportRequest.key_files", v1::KeyFilesMode_MIN, v1::KeyFilesMode_MAX,
            "KeyFilesMode"),
      Entries("keyfleet.v1.ReportRequest.sessions_ended", kMaxSessionsEndedPerReport,
              "kMaxSessionsEndedPerReport"),
      Fingerprint("keyfleet.v1.SessionsEnded.fingerprint"),
      AnyValue("keyfleet.v1.SessionsEnded.count", "a count"),
      Account("keyfleet.v1.KeyUse.account"),
      Fingerprint("keyfleet.v1.KeyUse.fingerprint"),
      ByHandler("keyfleet.v1.KeyUse.last_used", kMinRequestUnixSeconds, kMaxRequestUnixSeconds,
                "RecordKeyUses: older than kMaxKeyUseAge left out, later than now taken as now"),
      Text("keyfleet.v1.KeyUse.from_address", kMaxKeyUseAddressBytes, "kMaxKeyUseAddressBytes"),
      Entries("keyfleet.v1.KeyUseReport.uses", kMaxKeyUsesPerReport, "kMaxKeyUsesPerReport"),
      AnyValue("keyfleet.v1.KeyUseReport.left_out", "a count"),
      // inventory.proto, as reports carry it
      Account("keyfleet.v1.AccountFailure.account"),
      Text("keyfleet.v1.AccountFailure.reason", kMaxReportTextBytes, "kMaxReportTextBytes"),
      Fingerprint("keyfleet.v1.ObservedKeyLine.fingerprint"),
      Text("keyfleet.v1.ObservedKeyLine.options", kMaxObservedOptionsBytes,
           "kMaxObservedOptionsBytes"),
      Range("keyfleet.v1.ObservedKeyLine.expires_at",
            kMinRequestUnixSeconds - kObservedExpirySlackSeconds,
            kMaxRequestUnixSeconds + kObservedExpirySlackSeconds,
            "years 1970 to 9999 in the host's time zone"),
      Text("keyfleet.v1.ObservedKeyLine.comment", kMaxObservedCommentBytes,
           "kMaxObservedCommentBytes"),
      Keyword("keyfleet.v1.ObservedKeyLine.file"),
      Keyword("keyfleet.v1.ObservedKeyLine.key_type"),
      Account("keyfleet.v1.ObservedAccount.account"),
      Entries("keyfleet.v1.ObservedAccount.lines", kMaxObservedLines, "kMaxObservedLines"),
      AnyValue("keyfleet.v1.ObservedAccount.lines_left_out", "a count"),
      Account("keyfleet.v1.DriftItem.account"),
      AnyValue("keyfleet.v1.DriftItem.kind", "kept as sent: a newer agent may know more kinds"),
      Text("keyfleet.v1.DriftItem.path", kMaxReportPathBytes, "kMaxReportPathBytes"),
      Text("keyfleet.v1.DriftItem.detail", kMaxReportTextBytes, "kMaxReportTextBytes"),
      AnyValue("keyfleet.v1.DriftItem.left_out", "a count"),
  };
}

}  // namespace

absl::Span<const FieldLimit> FieldLimits() {
  // Built once: some bounds (absl::Duration constants) are not constexpr.
  static const std::vector<FieldLimit>* const table = new std::vector<FieldLimit>(MakeTable());
  return *table;
}

const FieldLimit* FindFieldLimit(absl::string_view full_name) {
  for (const FieldLimit& row : FieldLimits()) {
    if (row.field == full_name) return &row;
  }
  return nullptr;
}

}  // namespace keyfleet::controller
