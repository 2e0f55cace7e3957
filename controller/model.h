// The controller's records: what the store persists and the fleet view holds in memory.
// Plain structs; the gRPC layer converts them to and from protos (service/proto_convert.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/host_names.h"
#include "common/key_policy.h"
#include "common/unmanaged_keys.h"

namespace keyfleet::controller {

using Labels = ::keyfleet::Labels;

enum class PrincipalKind { kPerson, kService };

struct PrincipalRecord {
  std::string name;
  PrincipalKind kind = PrincipalKind::kPerson;
  std::string email;
  bool disabled = false;
  absl::Time created_at;

  bool operator==(const PrincipalRecord& o) const;
};

// Stored states; "expired" is not stored, it is derived from expires_at and the clock.
enum class KeyState { kActive, kSuperseded, kRevoked };
enum class KeySource { kUploaded, kGenerated };

struct KeyRecord {
  std::string fingerprint;  // SHA256:…, unique across all principals
  std::string principal;
  std::string type;  // wire type name
  uint32_t bits = 0;
  std::string public_key;  // "TYPE BASE64", without comment
  std::string comment;
  std::string label;
  absl::Time created_at;
  absl::Time expires_at;
  KeyState state = KeyState::kActive;
  std::string successor_fingerprint;
  KeySource source = KeySource::kUploaded;
  std::string revocation_reason;
  std::optional<absl::Time> revoked_at;
  // Revoked with kill_sessions: agents end the live sshd sessions that authenticated with it.
  bool revocation_ends_sessions = false;

  bool operator==(const KeyRecord& o) const;
};

struct RevokedFingerprint {
  std::string fingerprint;
  std::string reason;
  absl::Time revoked_at;
  std::string revoked_by;
  bool ends_sessions = false;  // revoked with kill_sessions
};

// A revoked fingerprint as the fleet view loads it (every one ever revoked, also of keys
// removed since), and whether its revocation ends live sessions.
struct SnapshotRevocation {
  std::string fingerprint;
  bool ends_sessions = false;

  bool operator==(const SnapshotRevocation& o) const {
    return fingerprint == o.fingerprint && ends_sessions == o.ends_sessions;
  }
};

// The newest login with a key into one account of one host, from its agent's KeyUseReport.
struct KeyUseRecord {
  std::string fingerprint;  // SHA256:…
  std::string hostname;     // the reporting stream's host, never a field of the report
  std::string account;
  absl::Time last_used;
  std::string from_address;  // canonical IP address text
};

// How many live sessions of a revoked key one host's agent ended (over every report).
struct SessionsEndedRecord {
  std::string fingerprint;
  std::string hostname;
  uint64_t count = 0;
  absl::Time last_at;  // when the newest report saying so was received
};

// What GetKey shows of a key's use: the newest login per (host, account), newest first, and
// the sessions ended per host, by hostname.
struct KeyUsage {
  std::vector<KeyUseRecord> uses;
  std::vector<SessionsEndedRecord> sessions_ended;
};

// One entry of a report's sessions_ended.
struct SessionsEndedCount {
  std::string fingerprint;
  uint32_t count = 0;
};

struct HostSelector {
  Labels labels;              // every one must match the host's
  std::string hostname_glob;  // fnmatch(3) pattern; empty matches every host

  bool operator==(const HostSelector& o) const {
    return labels == o.labels && hostname_glob == o.hostname_glob;
  }
};

struct GrantRecord {
  int64_t id = 0;  // assigned by the store
  // Exactly one of principal and key_fingerprint is set.
  std::string principal;
  std::string key_fingerprint;
  HostSelector hosts;
  std::string account;
  std::string options;  // canonical authorized_keys options text, may be empty
  std::optional<absl::Time> expires_at;
  bool allow_root = false;
  absl::Time created_at;

  bool operator==(const GrantRecord& o) const;
};

// Where a host's agent writes the managed keys (its key_files setting, v1::KeyFilesMode): the
// accounts' ~/.ssh/authorized_keys, root-owned /etc/ssh/keyfleet/authorized_keys/USER, or both.
// Agents before the setting wrote home files only.
enum class KeyFilesMode { kHome, kCentral, kBoth };

struct HostRecord {
  std::string hostname;
  Labels labels;
  absl::Time first_seen;
  absl::Time last_seen;
  uint64_t applied_generation = 0;
  std::string applied_digest;
  std::string drift_json = "[]";  // the last report's drift items, as JSON
  // The accounts the last report's apply could not write, as JSON [{"account","reason"}].
  std::string failed_accounts_json = "[]";
  std::vector<std::string> host_key_fingerprints;
  // The host's SSH host public keys from the last report, "TYPE BASE64" each (for known_hosts).
  std::vector<std::string> host_public_keys;
  // Why the host's KRL does not hold the revocations of the state it applied (last report); ""
  // when it does. Non-empty: the host is failed, not converged.
  std::string revocations_error;
  KeyFilesMode key_files = KeyFilesMode::kHome;
  // Enrollment: empty for a host registered by an --insecure-dev hello. A host certificate is
  // honoured only while it names the host's current enrollment id.
  std::string enrollment_id;
  std::optional<absl::Time> enrolled_at;
  std::optional<absl::Time> certificate_expires;  // of the newest certificate issued
};

// A key replaced by its successor (`keyfleet key rotate`), all in one transaction.
struct KeyRotation {
  std::string old_fingerprint;
  absl::Time old_expires_at;  // the end of the overlap (now for --now), never later than before
  KeyRecord successor;        // same principal; successor.state active
};

// A join token as stored: the secret itself never is, only its hash.
struct JoinTokenRecord {
  std::string id;           // public part, 16 hex digits
  std::string secret_hash;  // hex SHA-256 of the secret part
  std::string hostname;     // "" : the agent names a new host
  Labels labels;            // given to the host it enrolls
  absl::Time created_at;
  absl::Time expires_at;
  uint32_t uses_allowed = 1;
  uint32_t uses = 0;
  std::optional<absl::Time> revoked_at;
  std::string created_by;
  // The host scope of the operator who made it ({} : unscoped). Such a token re-enrolls only a
  // host inside that scope, and leaves its labels as they are.
  Labels creator_scope;
};

// Who may call the admin API (controller/service/admin_auth.h has the table of what each may do).
enum class Role { kAdmin, kOperator, kAuditor, kOwner };
enum class CredentialKind { kToken, kCertificate };

// An API token or admin client certificate, as stored: a token's secret never is, only its
// hash; a certificate is recognised by the credential id in its URI SAN.
struct ApiCredentialRecord {
  std::string id;  // 16 hex digits, public
  std::string name;
  CredentialKind kind = CredentialKind::kToken;
  Role role = Role::kAuditor;
  std::string principal;    // kOwner: the one principal it acts for
  Labels host_scope;        // kOperator: only hosts carrying these labels; empty = every host
  std::string secret_hash;  // tokens: hex SHA-256 of the secret part
  std::string certificate_serial;  // certificates: the serial, hex
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> expires_at;  // nullopt: never
  std::optional<absl::Time> revoked_at;
  std::optional<absl::Time> last_used_at;
};

// One enrollment, as the store checks and records it in a single transaction.
struct EnrollmentRequest {
  std::string token_id;
  std::string secret_hash;
  std::string hostname;       // requested; "" takes the token's
  std::string enrollment_id;  // new, random; named by the certificate
  absl::Time certificate_expires;
};

struct EnrollmentResult {
  uint64_t change = 0;
  HostRecord host;
};

// An audited event that is not an inventory change (a refused call, a certificate renewal),
// written in batches off the request path. `certificate_expires` updates the host's.
struct SecurityEvent {
  std::string actor;
  absl::Time at;
  std::string action;  // "agent.watch.denied", "host.certificate.renew", …
  std::string target;
  std::string detail_json;
  std::string hostname;  // with certificate_expires: the renewed host
  std::optional<absl::Time> certificate_expires;
  uint64_t repeated = 1;  // identical refusals in a row, from one source, recorded once
};

using UnmanagedKeysMode = ::keyfleet::UnmanagedKeysMode;

// How long a key may live, how early its owner is warned, and how long a rotated key stays.
struct RotationRule {
  absl::Duration max_key_age = absl::Hours(24 * 365);
  absl::Duration warning_window = absl::Hours(24 * 30);
  absl::Duration rotation_overlap = absl::Hours(24 * 14);

  bool operator==(const RotationRule& o) const;
};

struct PolicyRecord {
  // The rule for every principal kind without its own.
  absl::Duration max_key_age = absl::Hours(24 * 365);
  absl::Duration warning_window = absl::Hours(24 * 30);
  absl::Duration rotation_overlap = absl::Hours(24 * 14);
  // People and services may have their own rule (e.g. 90 days for CI keys).
  std::optional<RotationRule> person_rule;
  std::optional<RotationRule> service_rule;
  KeyPolicy key_policy = KeyPolicy::Default();
  UnmanagedKeysMode unmanaged_keys = UnmanagedKeysMode::kKeep;
  // Whether a revocation ends the key's live sessions when the request does not say.
  bool end_sessions_on_revoke = false;

  RotationRule DefaultRule() const { return {max_key_age, warning_window, rotation_overlap}; }
  // The kind's own rule, or the default.
  RotationRule RuleFor(PrincipalKind kind) const;
  std::optional<RotationRule>& OwnRule(PrincipalKind kind) {
    return kind == PrincipalKind::kService ? service_rule : person_rule;
  }
  const std::optional<RotationRule>& OwnRule(PrincipalKind kind) const {
    return kind == PrincipalKind::kService ? service_rule : person_rule;
  }

  bool operator==(const PolicyRecord& o) const;
};

// A host's agent report, written in batches (not a change: nothing desired depends on it).
struct HostReport {
  std::string hostname;
  absl::Time at;
  uint64_t applied_generation = 0;
  std::string applied_digest;
  std::string drift_json = "[]";
  std::vector<std::string> host_key_fingerprints;
  std::string failed_accounts_json = "[]";  // [{"account", "reason"}]
  // The key lines found in the accounts' files (JSON array of v1::ObservedAccount); "" when the
  // agent did not report them (the stored ones stay).
  std::string observed_json;
  std::string applied_epoch;  // "" from agents before epochs: taken as the controller's
  std::vector<std::string> host_public_keys;  // "TYPE BASE64", each parsed and re-rendered
  std::string revocations_error;              // "" when the host's KRL is as desired
  KeyFilesMode key_files = KeyFilesMode::kHome;
  // Live sessions of revoked keys the agent ended since its previous report (counts add up:
  // reports buffered together merge theirs). Recorded per (fingerprint, host) and audited.
  std::vector<SessionsEndedCount> sessions_ended;
};

// One append-only, hash-chained audit event.
struct AuditEvent {
  uint64_t sequence = 0;
  absl::Time at;
  std::string actor;
  std::string action;  // "key.add", "grant.remove", …
  std::string target;
  std::string before_json;  // "" when there was nothing before
  std::string after_json;   // "" when nothing is left after
  std::string prev_hash;    // hex; "" for the first event
  std::string hash;         // hex SHA-256, see audit_chain.h
};

// One entry of the change feed: the entity's complete state after the change.
// kCredential: an API token or admin certificate (entity_key its id), so every replica
// authenticates callers from memory. kKeyBatch: keys added in one request (entity_key their
// principal; after_json a JSON array of keys): one change however many.
enum class EntityKind { kPrincipal, kKey, kGrant, kHost, kPolicy, kCredential, kKeyBatch };

struct Change {
  uint64_t sequence = 0;
  EntityKind entity = EntityKind::kPrincipal;
  std::string entity_key;  // principal name, key fingerprint, grant id, hostname, "policy"
  std::string after_json;  // "" when the entity was deleted
};

// Everything the fleet view needs, consistent as of `sequence`.
struct Snapshot {
  uint64_t sequence = 0;
  // Which history `sequence` counts in (16 hex digits, see migration 0007): a restored or
  // rebuilt database has another, and agents then follow it instead of comparing numbers.
  std::string epoch;
  std::vector<PrincipalRecord> principals;
  std::vector<KeyRecord> keys;
  std::vector<GrantRecord> grants;
  std::vector<HostRecord> hosts;
  std::optional<PolicyRecord> policy;  // nullopt: never set, the configured defaults apply
  std::vector<ApiCredentialRecord> credentials;  // revoked and expired ones included
  // Every fingerprint ever revoked (the revoked_fingerprints table), also of keys removed since.
  std::vector<SnapshotRevocation> revoked_fingerprints;
  // The newest use of every key ever used (key_uses), for FleetView's last use in memory.
  std::map<std::string, absl::Time> last_uses;
};

// A mutation's request as the caller tagged it: a replay of the same id gets the first outcome
// (the store records the id in the mutation's transaction). Empty id: untagged.
struct RequestTag {
  std::string id;
  std::string method;  // the RPC, e.g. "AddGrant"
  std::string digest;  // hex SHA-256 of the serialized request: one id, one request
};

// What the store recorded for a tagged request (RequestTag) whose mutation committed.
struct RequestOutcome {
  std::string request_id;
  std::string actor;
  std::string method;
  std::string digest;
  uint64_t change = 0;  // the mutation's last change; 0 when it changed nothing
  std::optional<std::string> response;  // the serialized answer, once recorded
  bool secret_withheld = false;         // the answer held a secret, which is never stored
  absl::Time created_at;
};

// Who made a mutation and when (recorded in its audit event), the request's tag, and the
// caller's deadline: nothing is committed after it.
struct MutationContext {
  MutationContext() = default;
  MutationContext(std::string actor, absl::Time at, RequestTag request = {},
                  absl::Time deadline = absl::InfiniteFuture())
      : actor(std::move(actor)), at(at), request(std::move(request)), deadline(deadline) {}
  std::string actor;
  absl::Time at;
  RequestTag request;
  absl::Time deadline = absl::InfiniteFuture();
};

// Who asks handlers for a mutation: the audit name, and (from the service edge) the request's
// tag and deadline. Converts from a plain name for callers without either.
struct Actor {
  Actor(std::string name) : name(std::move(name)) {}  // NOLINT(google-explicit-constructor)
  Actor(const char* name) : name(name) {}             // NOLINT(google-explicit-constructor)
  Actor(std::string name, RequestTag request, absl::Time deadline)
      : name(std::move(name)), request(std::move(request)), deadline(deadline) {}
  std::string name;
  RequestTag request;
  absl::Time deadline = absl::InfiniteFuture();

  MutationContext At(absl::Time at) const { return {name, at, request, deadline}; }
};

const char* PrincipalKindName(PrincipalKind kind);  // "person" | "service"
std::optional<PrincipalKind> ParsePrincipalKind(const std::string& name);
const char* KeyStateName(KeyState state);  // "active" | "superseded" | "revoked"
std::optional<KeyState> ParseKeyState(const std::string& name);
const char* KeySourceName(KeySource source);  // "uploaded" | "generated"
std::optional<KeySource> ParseKeySource(const std::string& name);
const char* UnmanagedKeysModeName(UnmanagedKeysMode mode);  // "keep" | "report" | "remove"
std::optional<UnmanagedKeysMode> ParseUnmanagedKeysMode(const std::string& name);
const char* RoleName(Role role);  // "admin" | "operator" | "auditor" | "owner"
std::optional<Role> ParseRole(const std::string& name);
const char* CredentialKindName(CredentialKind kind);  // "token" | "certificate"
std::optional<CredentialKind> ParseCredentialKind(const std::string& name);
const char* KeyFilesModeName(KeyFilesMode mode);  // "home" | "central" | "both"
std::optional<KeyFilesMode> ParseKeyFilesMode(const std::string& name);
const char* EntityKindName(EntityKind kind);  // "principal" | "key" | …
std::optional<EntityKind> ParseEntityKind(const std::string& name);

}  // namespace keyfleet::controller
