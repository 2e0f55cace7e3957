#include "controller/model.h"

#include <tuple>

namespace keyfleet::controller {
namespace {

template <typename Enum, size_t N>
std::optional<Enum> FindByName(const std::pair<Enum, const char*> (&table)[N],
                               const std::string& name) {
  for (const auto& [value, text] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}

template <typename Enum, size_t N>
const char* NameOf(const std::pair<Enum, const char*> (&table)[N], Enum value) {
  for (const auto& [v, text] : table) {
    if (v == value) return text;
  }
  return "?";
}

const std::pair<PrincipalKind, const char*> kPrincipalKinds[] = {
    {PrincipalKind::kPerson, "person"}, {PrincipalKind::kService, "service"}};
const std::pair<KeyState, const char*> kKeyStates[] = {{KeyState::kActive, "active"},
                                                       {KeyState::kSuperseded, "superseded"},
                                                       {KeyState::kRevoked, "revoked"}};
const std::pair<KeySource, const char*> kKeySources[] = {{KeySource::kUploaded, "uploaded"},
                                                         {KeySource::kGenerated, "generated"}};
const std::pair<UnmanagedKeysMode, const char*> kUnmanagedModes[] = {
    {UnmanagedKeysMode::kKeep, "keep"},
    {UnmanagedKeysMode::kReport, "report"},
    {UnmanagedKeysMode::kRemove, "remove"}};
const std::pair<KeyFilesMode, const char*> kKeyFilesModes[] = {{KeyFilesMode::kHome, "home"},
                                                               {KeyFilesMode::kCentral, "central"},
                                                               {KeyFilesMode::kBoth, "both"}};
const std::pair<EntityKind, const char*> kEntityKinds[] = {{EntityKind::kPrincipal, "principal"},
                                                           {EntityKind::kKey, "key"},
                                                           {EntityKind::kGrant, "grant"},
                                                           {EntityKind::kHost, "host"},
                                                           {EntityKind::kPolicy, "policy"},
                                                           {EntityKind::kCredential, "credential"},
                                                           {EntityKind::kKeyBatch, "keys"}};
const std::pair<Role, const char*> kRoles[] = {{Role::kAdmin, "admin"},
                                               {Role::kOperator, "operator"},
                                               {Role::kAuditor, "auditor"},
                                               {Role::kOwner, "owner"}};
const std::pair<CredentialKind, const char*> kCredentialKinds[] = {
    {CredentialKind::kToken, "token"}, {CredentialKind::kCertificate, "certificate"}};

}  // namespace

bool PrincipalRecord::operator==(const PrincipalRecord& o) const {
  return std::tie(name, kind, email, disabled, created_at) ==
         std::tie(o.name, o.kind, o.email, o.disabled, o.created_at);
}

bool KeyRecord::operator==(const KeyRecord& o) const {
  return std::tie(fingerprint, principal, type, bits, public_key, comment, label, created_at,
                  expires_at, state, successor_fingerprint, source, revocation_reason, revoked_at,
                  revocation_ends_sessions) ==
         std::tie(o.fingerprint, o.principal, o.type, o.bits, o.public_key, o.comment, o.label,
                  o.created_at, o.expires_at, o.state, o.successor_fingerprint, o.source,
                  o.revocation_reason, o.revoked_at, o.revocation_ends_sessions);
}

bool GrantRecord::operator==(const GrantRecord& o) const {
  return std::tie(id, principal, key_fingerprint, hosts, account, options, expires_at, allow_root,
                  created_at) == std::tie(o.id, o.principal, o.key_fingerprint, o.hosts, o.account,
                                          o.options, o.expires_at, o.allow_root, o.created_at);
}

bool RotationRule::operator==(const RotationRule& o) const {
  return max_key_age == o.max_key_age && warning_window == o.warning_window &&
         rotation_overlap == o.rotation_overlap;
}

RotationRule PolicyRecord::RuleFor(PrincipalKind kind) const {
  const std::optional<RotationRule>& own = OwnRule(kind);
  return own ? *own : DefaultRule();
}

bool PolicyRecord::operator==(const PolicyRecord& o) const {
  return max_key_age == o.max_key_age && warning_window == o.warning_window &&
         rotation_overlap == o.rotation_overlap && person_rule == o.person_rule &&
         service_rule == o.service_rule && key_policy.allowed_types == o.key_policy.allowed_types &&
         key_policy.min_rsa_bits == o.key_policy.min_rsa_bits &&
         unmanaged_keys == o.unmanaged_keys && end_sessions_on_revoke == o.end_sessions_on_revoke;
}

const char* PrincipalKindName(PrincipalKind kind) {
  return NameOf(kPrincipalKinds, kind);
}
std::optional<PrincipalKind> ParsePrincipalKind(const std::string& name) {
  return FindByName(kPrincipalKinds, name);
}
const char* KeyStateName(KeyState state) {
  return NameOf(kKeyStates, state);
}
std::optional<KeyState> ParseKeyState(const std::string& name) {
  return FindByName(kKeyStates, name);
}
const char* KeySourceName(KeySource source) {
  return NameOf(kKeySources, source);
}
std::optional<KeySource> ParseKeySource(const std::string& name) {
  return FindByName(kKeySources, name);
}
const char* UnmanagedKeysModeName(UnmanagedKeysMode mode) {
  return NameOf(kUnmanagedModes, mode);
}
std::optional<UnmanagedKeysMode> ParseUnmanagedKeysMode(const std::string& name) {
  return FindByName(kUnmanagedModes, name);
}
const char* KeyFilesModeName(KeyFilesMode mode) {
  return NameOf(kKeyFilesModes, mode);
}
std::optional<KeyFilesMode> ParseKeyFilesMode(const std::string& name) {
  return FindByName(kKeyFilesModes, name);
}
const char* EntityKindName(EntityKind kind) {
  return NameOf(kEntityKinds, kind);
}
std::optional<EntityKind> ParseEntityKind(const std::string& name) {
  return FindByName(kEntityKinds, name);
}
const char* RoleName(Role role) {
  return NameOf(kRoles, role);
}
std::optional<Role> ParseRole(const std::string& name) {
  return FindByName(kRoles, name);
}
const char* CredentialKindName(CredentialKind kind) {
  return NameOf(kCredentialKinds, kind);
}
std::optional<CredentialKind> ParseCredentialKind(const std::string& name) {
  return FindByName(kCredentialKinds, name);
}

}  // namespace keyfleet::controller
