#include "controller/service/proto_convert.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "common/key_policy.h"
#include "common/ssh_key_type.h"
#include "common/ssh_public_key.h"
#include "controller/enrollment_rules.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

v1::KeyState KeyStateToProto(const std::string& state) {
  if (state == "active") return v1::KEY_STATE_ACTIVE;
  if (state == "superseded") return v1::KEY_STATE_SUPERSEDED;
  if (state == "expired") return v1::KEY_STATE_EXPIRED;
  if (state == "revoked") return v1::KEY_STATE_REVOKED;
  return v1::KEY_STATE_UNSPECIFIED;
}

v1::UnmanagedKeys UnmanagedToProto(UnmanagedKeysMode mode) {
  switch (mode) {
    case UnmanagedKeysMode::kKeep:
      return v1::UNMANAGED_KEYS_KEEP;
    case UnmanagedKeysMode::kReport:
      return v1::UNMANAGED_KEYS_REPORT;
    case UnmanagedKeysMode::kRemove:
      return v1::UNMANAGED_KEYS_REMOVE;
  }
  return v1::UNMANAGED_KEYS_KEEP;
}

KeyFilesMode KeyFilesFromProto(v1::KeyFilesMode mode) {
  switch (mode) {
    case v1::KEY_FILES_MODE_CENTRAL:
      return KeyFilesMode::kCentral;
    case v1::KEY_FILES_MODE_BOTH:
      return KeyFilesMode::kBoth;
    default:  // HOME, and UNSPECIFIED from agents before the setting (they wrote home files)
      return KeyFilesMode::kHome;
  }
}

// An agent's words, made fit to store (a PostgreSQL text column takes no NUL) and to print
// (no control characters: a terminal shows them as escapes): those become '?', and text past
// `max_bytes` is cut at a character boundary and marked.
std::string StoredAgentText(absl::string_view text, size_t max_bytes) {
  std::string out;
  size_t end = std::min(text.size(), max_bytes);
  // Never inside a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (end < text.size() && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  out.reserve(end + 3);
  for (size_t i = 0; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : text[i]);
  }
  if (end < text.size()) out += "…";
  return out;
}

}  // namespace

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t seconds = us / 1000000;
  int64_t micros = us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(micros * 1000));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d % absl::Seconds(1))));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Status CheckRequestTime(absl::string_view field, const google::protobuf::Timestamp& t) {
  if (t.seconds() < kMinRequestUnixSeconds || t.seconds() > kMaxRequestUnixSeconds ||
      t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is out of range (", t.seconds(),
        " seconds since 1970); allowed: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestDuration(absl::string_view field, const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.seconds() > kMaxRequestDurationSeconds || d.nanos() < 0 ||
      d.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is out of range (", d.seconds(), " s); allowed: 0 to 36500d"));
  }
  return absl::OkStatus();
}

void ToProto(const PrincipalRecord& p, v1::Principal* out) {
  out->set_name(p.name);
  out->set_kind(p.kind == PrincipalKind::kPerson ? v1::PRINCIPAL_KIND_PERSON
                                                 : v1::PRINCIPAL_KIND_SERVICE);
  out->set_email(p.email);
  out->set_disabled(p.disabled);
  ToProto(p.created_at, out->mutable_created_at());
}

void ToProto(const KeyRecord& k, const std::string& state, v1::Key* out) {
  out->set_fingerprint(k.fingerprint);
  out->set_principal(k.principal);
  out->set_type(k.type);
  out->set_bits(k.bits);
  out->set_public_key(k.comment.empty() ? k.public_key
                                        : absl::StrCat(k.public_key, " ", k.comment));
  out->set_label(k.label);
  out->set_comment(k.comment);
  ToProto(k.created_at, out->mutable_created_at());
  ToProto(k.expires_at, out->mutable_expires_at());
  out->set_state(KeyStateToProto(state));
  out->set_successor_fingerprint(k.successor_fingerprint);
  out->set_source(k.source == KeySource::kUploaded ? v1::KEY_SOURCE_UPLOADED
                                                   : v1::KEY_SOURCE_GENERATED);
  out->set_revocation_reason(k.revocation_reason);
  if (k.revoked_at) ToProto(*k.revoked_at, out->mutable_revoked_at());
  out->set_revocation_ends_sessions(k.revocation_ends_sessions);
}

void ToProto(const KeyUsage& usage, v1::Key* out) {
  for (const KeyUseRecord& u : usage.uses) {
    v1::KeyUseOnHost* use = out->add_uses();
    use->set_hostname(u.hostname);
    use->set_account(u.account);
    ToProto(u.last_used, use->mutable_last_used());
    use->set_from_address(u.from_address);
  }
  for (const SessionsEndedRecord& e : usage.sessions_ended) {
    v1::SessionsEndedOnHost* ended = out->add_sessions_ended();
    ended->set_hostname(e.hostname);
    ended->set_count(static_cast<uint32_t>(std::min<uint64_t>(e.count, UINT32_MAX)));
    ToProto(e.last_at, ended->mutable_last_at());
  }
}

std::vector<KeyUseRecord> FromProto(const v1::KeyUseReport& report) {
  std::vector<KeyUseRecord> uses;
  uses.reserve(report.uses_size());
  for (const v1::KeyUse& u : report.uses()) {
    KeyUseRecord use;
    use.fingerprint = u.fingerprint();
    use.account = u.account();
    use.last_used = u.has_last_used() ? FromProto(u.last_used()) : absl::InfinitePast();
    use.from_address = u.from_address();
    uses.push_back(std::move(use));
  }
  return uses;
}

void ToProto(const GrantRecord& g, v1::Grant* out) {
  out->set_id(std::to_string(g.id));
  if (!g.principal.empty()) {
    out->set_principal(g.principal);
  } else {
    out->set_key_fingerprint(g.key_fingerprint);
  }
  for (const auto& [k, v] : g.hosts.labels) (*out->mutable_hosts()->mutable_labels())[k] = v;
  out->mutable_hosts()->set_hostname_glob(g.hosts.hostname_glob);
  out->set_account(g.account);
  out->set_options(g.options);
  if (g.expires_at) ToProto(*g.expires_at, out->mutable_expires_at());
  out->set_allow_root(g.allow_root);
  ToProto(g.created_at, out->mutable_created_at());
}

HostSelector FromProto(const v1::HostSelector& s) {
  HostSelector out;
  for (const auto& [k, v] : s.labels()) out.labels[k] = v;
  out.hostname_glob = s.hostname_glob();
  return out;
}

GrantRecord FromProto(const v1::Grant& g) {
  GrantRecord out;
  out.principal = g.principal();
  out.key_fingerprint = g.key_fingerprint();
  for (const auto& [k, v] : g.hosts().labels()) out.hosts.labels[k] = v;
  out.hosts.hostname_glob = g.hosts().hostname_glob();
  out.account = g.account();
  out.options = g.options();
  if (g.has_expires_at()) out.expires_at = FromProto(g.expires_at());
  out.allow_root = g.allow_root();
  return out;
}

void ToProto(const HostStatus& h, v1::Host* out) {
  out->set_hostname(h.host.hostname);
  for (const auto& [k, v] : h.host.labels) (*out->mutable_labels())[k] = v;
  ToProto(h.host.last_seen, out->mutable_last_seen());
  ToProto(h.host.first_seen, out->mutable_first_seen());
  out->set_desired_generation(h.desired_generation);
  out->set_applied_generation(h.host.applied_generation);
  out->set_desired_digest(h.desired_digest);
  out->set_applied_digest(h.host.applied_digest);
  out->set_converged(h.converged);
  for (const std::string& fp : h.host.host_key_fingerprints) out->add_host_key_fingerprints(fp);
  for (const std::string& key : h.host.host_public_keys) out->add_host_public_keys(key);
  out->set_revocations_error(h.host.revocations_error);
  out->set_key_files(KeyFilesModeName(h.host.key_files));
  if (h.host.enrolled_at) ToProto(*h.host.enrolled_at, out->mutable_enrolled_at());
  if (h.host.certificate_expires) {
    ToProto(*h.host.certificate_expires, out->mutable_certificate_expires());
  }
  for (const AccountFailureRecord& f : h.failed_accounts) ToProto(f, out->add_failed_accounts());
  nlohmann::json drift = nlohmann::json::parse(h.host.drift_json, nullptr, false);
  if (drift.is_array()) {
    for (const auto& item : drift) {
      v1::DriftItem parsed;
      if (google::protobuf::util::JsonStringToMessage(item.dump(), &parsed).ok()) {
        *out->add_last_drift() = parsed;
      }
    }
  }
}

void ToProto(const AccountFailureRecord& f, v1::AccountFailure* out) {
  out->set_account(f.account);
  out->set_reason(f.reason);
}

void ToProto(const JoinTokenRecord& t, absl::Time now, v1::HostToken* out) {
  out->set_id(t.id);
  out->set_hostname(t.hostname);
  for (const auto& [k, v] : t.labels) (*out->mutable_labels())[k] = v;
  ToProto(t.created_at, out->mutable_created_at());
  ToProto(t.expires_at, out->mutable_expires_at());
  out->set_uses_allowed(t.uses_allowed);
  out->set_uses(t.uses);
  out->set_revoked(t.revoked_at.has_value());
  out->set_created_by(t.created_by);
  out->set_state(JoinTokenState(t, now));
}

namespace {

void RuleToProto(const RotationRule& r, v1::RotationRule* out) {
  ToProto(r.max_key_age, out->mutable_max_key_age());
  ToProto(r.warning_window, out->mutable_warning_window());
  ToProto(r.rotation_overlap, out->mutable_rotation_overlap());
}

// Unset fields keep `base`'s values.
RotationRule RuleFromProto(const v1::RotationRule& r, RotationRule base) {
  if (r.has_max_key_age()) base.max_key_age = FromProto(r.max_key_age());
  if (r.has_warning_window()) base.warning_window = FromProto(r.warning_window());
  if (r.has_rotation_overlap()) base.rotation_overlap = FromProto(r.rotation_overlap());
  return base;
}

}  // namespace

void ToProto(const PolicyRecord& p, v1::Policy* out) {
  ToProto(p.max_key_age, out->mutable_max_key_age());
  ToProto(p.warning_window, out->mutable_warning_window());
  ToProto(p.rotation_overlap, out->mutable_rotation_overlap());
  if (p.person_rule) RuleToProto(*p.person_rule, out->mutable_person());
  if (p.service_rule) RuleToProto(*p.service_rule, out->mutable_service());
  for (KeyType t : p.key_policy.allowed_types)
    out->add_allowed_key_types(std::string(KeyTypeName(t)));
  out->set_min_rsa_bits(p.key_policy.min_rsa_bits);
  out->set_unmanaged_keys(UnmanagedToProto(p.unmanaged_keys));
  out->set_end_sessions_on_revoke(p.end_sessions_on_revoke);
}

absl::StatusOr<PolicyRecord> FromProto(const v1::Policy& p, const PolicyRecord& base) {
  PolicyRecord out = base;
  if (p.has_max_key_age()) out.max_key_age = FromProto(p.max_key_age());
  if (p.has_warning_window()) out.warning_window = FromProto(p.warning_window());
  if (p.has_rotation_overlap()) out.rotation_overlap = FromProto(p.rotation_overlap());
  if (p.has_person()) {
    out.person_rule = RuleFromProto(p.person(), out.RuleFor(PrincipalKind::kPerson));
  }
  if (p.has_service()) {
    out.service_rule = RuleFromProto(p.service(), out.RuleFor(PrincipalKind::kService));
  }
  if (p.allowed_key_types_size() > 0) {
    out.key_policy.allowed_types.clear();
    for (const std::string& name : p.allowed_key_types()) {
      std::optional<KeyType> type = KeyTypeFromName(name);
      if (!type) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown key type \"", name,
                         "\"; use OpenSSH names such as ssh-ed25519, "
                         "ecdsa-sha2-nistp256, sk-ssh-ed25519@openssh.com, ssh-rsa"));
      }
      out.key_policy.allowed_types.push_back(*type);
    }
  }
  if (p.min_rsa_bits() != 0) out.key_policy.min_rsa_bits = p.min_rsa_bits();
  if (p.has_end_sessions_on_revoke()) out.end_sessions_on_revoke = p.end_sessions_on_revoke();
  switch (p.unmanaged_keys()) {
    case v1::UNMANAGED_KEYS_KEEP:
      out.unmanaged_keys = UnmanagedKeysMode::kKeep;
      break;
    case v1::UNMANAGED_KEYS_REPORT:
      out.unmanaged_keys = UnmanagedKeysMode::kReport;
      break;
    case v1::UNMANAGED_KEYS_REMOVE:
      out.unmanaged_keys = UnmanagedKeysMode::kRemove;
      break;
    default:
      break;
  }
  return out;
}

void ToProto(const AuditEvent& e, v1::AuditEvent* out) {
  out->set_sequence(e.sequence);
  ToProto(e.at, out->mutable_at());
  out->set_actor(e.actor);
  out->set_action(e.action);
  out->set_target(e.target);
  out->set_before_json(e.before_json);
  out->set_after_json(e.after_json);
  out->set_hash(e.hash);
}

void ToProto(const HostDesiredState& s, v1::DesiredState* out) {
  out->set_generation(s.generation);
  out->set_epoch(s.epoch);
  out->set_digest(s.digest);
  out->set_hostname(s.hostname);
  for (const AccountDesiredState& a : s.accounts) {
    v1::AccountKeys* account = out->add_accounts();
    account->set_account(a.account);
    for (const ManagedLinePtr& line : a.lines) account->add_keys(line->text);
    account->set_unmanaged(UnmanagedToProto(s.unmanaged));
    account->set_exclusive(s.unmanaged == UnmanagedKeysMode::kRemove);
  }
  if (s.revocations == nullptr) return;
  v1::Revocations* revocations = out->mutable_revocations();
  revocations->set_total(s.revocations->total);
  for (const std::string& digest : s.revocations->recent_sha256) {
    revocations->add_recent_sha256(digest);
  }
  for (const std::string& digest : s.revocations->recent_kill_sha256) {
    revocations->add_kill_sessions_sha256(digest);
  }
}

v1::AccessState ToProto(AccessState state) {
  switch (state) {
    case AccessState::kActive:
      return v1::ACCESS_STATE_ACTIVE;
    case AccessState::kPendingAdd:
      return v1::ACCESS_STATE_PENDING_ADD;
    case AccessState::kPendingRemoval:
      return v1::ACCESS_STATE_PENDING_REMOVAL;
    case AccessState::kUnmanaged:
      return v1::ACCESS_STATE_UNMANAGED;
    case AccessState::kUnreported:
      return v1::ACCESS_STATE_UNREPORTED;
  }
  return v1::ACCESS_STATE_UNSPECIFIED;
}

void ToProto(const AccountAccessFacts& facts, v1::AccountAccess* out) {
  out->set_account(facts.account);
  out->set_sshd_refuses(facts.sshd_refuses);
  for (const std::string& f : facts.facts) out->add_facts(f);
  out->set_lines_left_out(facts.lines_left_out);
  out->set_files_reported(facts.observed);
}

std::vector<ObservedAccountRecord> FromProto(
    const google::protobuf::RepeatedPtrField<v1::ObservedAccount>& in) {
  std::vector<ObservedAccountRecord> out;
  for (const v1::ObservedAccount& a : in) {
    ObservedAccountRecord account;
    account.account = a.account();
    account.lines_left_out = a.lines_left_out();
    for (const v1::ObservedKeyLine& l : a.lines()) {
      ObservedLineRecord line;
      line.fingerprint = l.fingerprint();
      line.managed = l.managed();
      line.options = l.options();
      if (l.has_expires_at()) line.expires_at = FromProto(l.expires_at());
      line.comment = l.comment();
      line.file = l.file();
      line.key_type = l.key_type();
      account.lines.push_back(std::move(line));
    }
    out.push_back(std::move(account));
  }
  return out;
}

HostReport FromProto(const std::string& hostname, const v1::ReportRequest& req) {
  HostReport report;
  report.hostname = hostname;
  report.applied_generation = req.applied_generation();
  report.applied_epoch = req.applied_epoch();
  report.applied_digest = req.applied_digest();
  report.host_key_fingerprints.assign(req.host_key_fingerprints().begin(),
                                      req.host_key_fingerprints().end());
  std::string drift = "[";
  for (int i = 0; i < req.drift_size(); ++i) {
    std::string item;
    (void)google::protobuf::util::MessageToJsonString(req.drift(i), &item);
    if (i > 0) drift += ",";
    drift += item;
  }
  report.drift_json = drift + "]";
  // What an agent says is cut to a sane size before it is stored and shown.
  constexpr size_t kMaxReasonBytes = 512;
  constexpr int kMaxFailures = 1000;
  nlohmann::json failed = nlohmann::json::array();
  for (int i = 0; i < req.failed_accounts_size() && i < kMaxFailures; ++i) {
    std::string reason = req.failed_accounts(i).reason();
    if (reason.size() > kMaxReasonBytes) reason = reason.substr(0, kMaxReasonBytes) + "…";
    failed.push_back(
        {{"account", PrintableName(req.failed_accounts(i).account())}, {"reason", reason}});
  }
  report.failed_accounts_json =
      failed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (req.observed_included()) report.observed_json = ObservedToJson(FromProto(req.observed()));
  for (const std::string& text : req.host_public_keys()) {
    absl::StatusOr<PublicKey> key = ParsePublicKey(text);
    if (!key.ok() || key->certificate) continue;
    key->comment.clear();
    report.host_public_keys.push_back(RenderPublicKey(*key));
  }
  report.revocations_error = StoredAgentText(req.revocations_error(), kMaxReasonBytes);
  report.key_files = KeyFilesFromProto(req.key_files());
  for (const v1::SessionsEnded& e : req.sessions_ended()) {
    report.sessions_ended.push_back({e.fingerprint(), e.count()});
  }
  return report;
}

absl::StatusOr<PrincipalKind> FromProto(v1::PrincipalKind kind) {
  switch (kind) {
    case v1::PRINCIPAL_KIND_UNSPECIFIED:
    case v1::PRINCIPAL_KIND_PERSON:
      return PrincipalKind::kPerson;
    case v1::PRINCIPAL_KIND_SERVICE:
      return PrincipalKind::kService;
    default:
      return absl::InvalidArgumentError("principal kind must be person or service");
  }
}

std::optional<std::string> FromProto(v1::KeyState state) {
  switch (state) {
    case v1::KEY_STATE_ACTIVE:
      return "active";
    case v1::KEY_STATE_SUPERSEDED:
      return "superseded";
    case v1::KEY_STATE_EXPIRED:
      return "expired";
    case v1::KEY_STATE_REVOKED:
      return "revoked";
    default:
      return std::nullopt;
  }
}

v1::Role ToProto(Role role) {
  switch (role) {
    case Role::kAdmin:
      return v1::ROLE_ADMIN;
    case Role::kOperator:
      return v1::ROLE_OPERATOR;
    case Role::kAuditor:
      return v1::ROLE_AUDITOR;
    case Role::kOwner:
      return v1::ROLE_OWNER;
  }
  return v1::ROLE_UNSPECIFIED;
}

absl::StatusOr<Role> FromProto(v1::Role role) {
  switch (role) {
    case v1::ROLE_ADMIN:
      return Role::kAdmin;
    case v1::ROLE_OPERATOR:
      return Role::kOperator;
    case v1::ROLE_AUDITOR:
      return Role::kAuditor;
    case v1::ROLE_OWNER:
      return Role::kOwner;
    default:
      return absl::InvalidArgumentError(
          "a role is required: admin, operator, auditor or owner (--role)");
  }
}

void ToProto(const ApiCredentialRecord& c, v1::Credential* out) {
  out->set_id(c.id);
  out->set_name(c.name);
  out->set_kind(CredentialKindName(c.kind));
  out->set_role(ToProto(c.role));
  out->set_principal(c.principal);
  for (const auto& [k, v] : c.host_scope) (*out->mutable_host_scope())[k] = v;
  ToProto(c.created_at, out->mutable_created_at());
  out->set_created_by(c.created_by);
  if (c.expires_at) ToProto(*c.expires_at, out->mutable_expires_at());
  if (c.revoked_at) ToProto(*c.revoked_at, out->mutable_revoked_at());
  if (c.last_used_at) ToProto(*c.last_used_at, out->mutable_last_used_at());
  out->set_certificate_serial(c.certificate_serial);
}

}  // namespace keyfleet::controller
