// The one interface to the controller's persistent inventory. PostgresStore is the real one;
// tests of handlers use FakeStore (controller/tests/fake_store.h), which keeps the same rules.
//
// Every mutation commits its rows, one audit event and its change-feed entries in a single
// transaction, and returns the sequence number of the last change it wrote ("the change"): a
// caller can wait for the fleet view, and for agents, to reach it. Mutations are serialized, so
// change sequences become visible in increasing order.
//
// Errors are absl::Status with messages a user can act on:
//   NOT_FOUND            the named principal, key, grant or host does not exist
//   ALREADY_EXISTS       a principal name or key fingerprint is taken (the message names the owner)
//   FAILED_PRECONDITION  the request conflicts with the inventory (revoked key, disabled principal)
//   UNAVAILABLE          the database could not be reached within the retry budget; for a
//                        mutation the message says whether it may have been applied
//   DATA_LOSS / INTERNAL the database holds something this binary cannot read
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/audit_checkpoint.h"
#include "controller/model.h"
#include "controller/policy_impact.h"

namespace keyfleet::controller {

// The whole audit log as one snapshot saw it, one row at a time (what `audit verify` checks,
// however long the log): see Store::VisitAuditLog. A callback's error ends the read and is its
// result.
struct AuditLogVisitor {
  // Called before anything else, and again whenever the read starts over in a new snapshot (the
  // connection was lost and is retried): forget everything received so far.
  std::function<void()> start;
  // Every signed checkpoint, by id. Not read when empty.
  std::function<absl::Status(const AuditCheckpoint&)> checkpoint;
  // Then every event, by sequence.
  std::function<absl::Status(const AuditEvent&)> event;
};

class Store {
 public:
  virtual ~Store() = default;

  // Everything the fleet view needs, read in one consistent snapshot.
  virtual absl::StatusOr<Snapshot> LoadSnapshot() = 0;
  // Changes with sequence > `after`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<Change>> ChangesSince(uint64_t after, size_t limit) = 0;

  // ALREADY_EXISTS when the name is taken.
  virtual absl::StatusOr<uint64_t> AddPrincipal(const MutationContext& ctx,
                                                const PrincipalRecord& principal) = 0;
  // NOT_FOUND; FAILED_PRECONDITION when already disabled.
  virtual absl::StatusOr<uint64_t> DisablePrincipal(const MutationContext& ctx,
                                                    const std::string& name) = 0;
  // All or nothing. Each key's principal must exist and not be disabled (NOT_FOUND,
  // FAILED_PRECONDITION); a fingerprint already owned is ALREADY_EXISTS naming the owner; a
  // revoked fingerprint is FAILED_PRECONDITION with the revocation's reason and date.
  virtual absl::StatusOr<uint64_t> AddKeys(const MutationContext& ctx,
                                           const std::vector<KeyRecord>& keys) = 0;
  virtual absl::StatusOr<uint64_t> LabelKey(const MutationContext& ctx,
                                            const std::string& fingerprint,
                                            const std::string& label) = 0;
  // Deletes the key; grants naming it grant nothing until a key with that fingerprint returns.
  virtual absl::StatusOr<uint64_t> RemoveKey(const MutationContext& ctx,
                                             const std::string& fingerprint) = 0;
  // Marks the key revoked and blocklists its fingerprint, both with `ends_sessions` (agents end
  // the key's live sessions; carried in the key's change). FAILED_PRECONDITION when already
  // revoked.
  virtual absl::StatusOr<uint64_t> RevokeKey(const MutationContext& ctx,
                                             const std::string& fingerprint,
                                             const std::string& reason, bool ends_sessions) = 0;
  // Registers the successor (as AddKeys checks it), marks the old key superseded with
  // successor_fingerprint set and expires_at = rotation.old_expires_at, and copies every grant
  // made to the old fingerprint to the new one. NOT_FOUND for an unknown old key;
  // FAILED_PRECONDITION when it is revoked or already superseded. Sets *carried to the new
  // grants.
  virtual absl::StatusOr<uint64_t> RotateKey(const MutationContext& ctx,
                                             const KeyRotation& rotation,
                                             std::vector<GrantRecord>* carried) = 0;
  // Assigns grant.id. The principal or key it names must exist.
  virtual absl::StatusOr<std::pair<uint64_t, GrantRecord>> AddGrant(const MutationContext& ctx,
                                                                    const GrantRecord& grant) = 0;
  virtual absl::StatusOr<uint64_t> RemoveGrant(const MutationContext& ctx, int64_t id) = 0;
  // With the policy, shortens the listed keys' lives (only where the stored expiry is still
  // later, each audited as key.shorten) in the same transaction.
  virtual absl::StatusOr<uint64_t> SetPolicy(const MutationContext& ctx, const PolicyRecord& policy,
                                             const std::vector<KeyLifeChange>& shorten) = 0;
  // Creates the host or updates its labels (a change, audited with the host as actor); only
  // refreshes last_seen, and returns 0, when the labels are unchanged.
  virtual absl::StatusOr<uint64_t> RegisterHost(const MutationContext& ctx,
                                                const std::string& hostname,
                                                const Labels& labels) = 0;

  // Admin relabel: NOT_FOUND for an unknown host. Returns 0 when nothing changed.
  virtual absl::StatusOr<uint64_t> SetHostLabels(const MutationContext& ctx,
                                                 const std::string& hostname,
                                                 const Labels& labels) = 0;
  // Deletes the host (a change: the view drops it, its streams close, its certificates stop
  // working). NOT_FOUND for an unknown host.
  virtual absl::StatusOr<uint64_t> RemoveHost(const MutationContext& ctx,
                                              const std::string& hostname) = 0;

  // Join tokens (audited, not changes: they alter no host's desired state).
  virtual absl::Status CreateJoinToken(const MutationContext& ctx,
                                       const JoinTokenRecord& token) = 0;
  virtual absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens() = 0;
  // At most `limit` join tokens created after (`created_at`, `id`) — ties on the time go by id;
  // InfinitePast: from the first — oldest first: a long list read a page at a time.
  virtual absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokensAfter(absl::Time created_at,
                                                                           const std::string& id,
                                                                           size_t limit) = 0;
  // nullopt for an unknown id. A plain read: EnrollHost checks the token again under its lock.
  virtual absl::StatusOr<std::optional<JoinTokenRecord>> GetJoinToken(const std::string& id) = 0;
  // NOT_FOUND; FAILED_PRECONDITION when already revoked.
  virtual absl::Status RevokeJoinToken(const MutationContext& ctx, const std::string& id) = 0;
  // In one transaction: locks the token, checks it (CheckJoinToken; an unknown id is
  // UNAUTHENTICATED) and the hostname (EnrollmentHostname), consumes one use, and creates or
  // re-enrolls the host with request.enrollment_id (labels from the token; a re-enrolled host
  // keeps its labels when the token has none). Nothing is written when any check fails.
  virtual absl::StatusOr<EnrollmentResult> EnrollHost(const MutationContext& ctx,
                                                      const EnrollmentRequest& request) = 0;
  // Appends security events (denials, renewals) to the audit chain in one transaction, and
  // records renewed certificates' expiry on their hosts.
  virtual absl::Status RecordSecurityEvents(const std::vector<SecurityEvent>& events) = 0;

  // API tokens and admin certificates (audited, not changes).
  // ALREADY_EXISTS when a live (unrevoked) credential has that name.
  virtual absl::Status CreateApiCredential(const MutationContext& ctx,
                                           const ApiCredentialRecord& credential) = 0;
  // Creates `credential` only if no credential was ever named credential.name, revoked ones
  // included: the bootstrap token is made once per database, by whichever replica starts
  // first, and never comes back after it is revoked. False when one was.
  virtual absl::StatusOr<bool> CreateApiCredentialOnce(const MutationContext& ctx,
                                                       const ApiCredentialRecord& credential) = 0;
  virtual absl::StatusOr<std::vector<ApiCredentialRecord>> ListApiCredentials() = 0;
  // nullopt for an unknown id.
  virtual absl::StatusOr<std::optional<ApiCredentialRecord>> GetApiCredential(
      const std::string& id) = 0;
  // Revokes the live credential whose name, or id, is `name_or_id`. NOT_FOUND; FAILED_PRECONDITION
  // when the id names one already revoked.
  virtual absl::StatusOr<ApiCredentialRecord> RevokeApiCredential(
      const MutationContext& ctx, const std::string& name_or_id) = 0;
  // Records a use (last_used_at never moves backwards). Not audited.
  virtual absl::Status TouchApiCredential(const std::string& id, absl::Time at) = 0;

  // Idempotent requests. Every mutation whose context carries a RequestTag records it in its
  // own transaction (and refuses, with RequestAlreadyDoneError, an id recorded before).
  // The recorded outcome of request `id`; nullopt when none committed.
  virtual absl::StatusOr<std::optional<RequestOutcome>> FindRequestOutcome(
      const std::string& id) = 0;
  // Adds the serialized answer to request `id`'s outcome (nothing when there is none).
  virtual absl::Status RecordRequestResponse(const std::string& id, const std::string& response,
                                             bool secret_withheld) = 0;

  // Agent reports: last seen, applied generation and digest, drift. Not changes, not audited;
  // written in batches. Reports for unknown hosts are ignored. A report's sessions_ended add
  // to the host's counts per key (whatever its generation), and each report that ended some
  // is one audit event ("host.sessions.end", actor host:NAME, naming the keys and counts).
  virtual absl::Status RecordHostReports(const std::vector<HostReport>& reports) = 0;

  // Last use. Records each use as the newest of its (fingerprint, host, account) unless a newer
  // one is stored (the stored address goes with the stored time). Not audited; written in
  // batches.
  virtual absl::Status RecordKeyUses(const std::vector<KeyUseRecord>& uses) = 0;
  // The key's newest uses per (host, account), newest first, and its sessions ended per host,
  // by hostname: at most `limit` of each.
  virtual absl::StatusOr<KeyUsage> KeyUsageOf(const std::string& fingerprint, size_t limit) = 0;
  // The newest use of every key ever used, over every host (FleetView keeps it in memory).
  virtual absl::StatusOr<std::map<std::string, absl::Time>> AllLastKeyUses() = 0;
  virtual absl::StatusOr<std::vector<HostRecord>> ListHosts() = 0;
  // At most `limit` hosts named after `after` ("": from the first), in hostname order: the
  // fleet read a page at a time.
  virtual absl::StatusOr<std::vector<HostRecord>> ListHostsAfter(const std::string& after,
                                                                 size_t limit) = 0;
  // One host by name: nullopt when there is none (no full read of the fleet for one host).
  virtual absl::StatusOr<std::optional<HostRecord>> FindHost(const std::string& hostname) = 0;
  // The hosts of `hostnames` that exist, in hostname order, without their drift (drift_json
  // "[]"): what a rollout's status needs of its targets, read in one query.
  virtual absl::StatusOr<std::vector<HostRecord>> FindHostsWithoutDrift(
      const std::vector<std::string>& hostnames) = 0;
  // The host's last reported key lines (HostReport::observed_json); "" when it never reported
  // them, NOT_FOUND for an unknown host.
  virtual absl::StatusOr<std::string> HostObservedJson(const std::string& hostname) = 0;
  // Marks hosts whose agents hold a stream to this replica as seen at `at` (never backwards).
  virtual absl::Status TouchHosts(const std::vector<std::string>& hostnames, absl::Time at) = 0;

  // Audit events with sequence > `after` and at >= `since`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<AuditEvent>> ListAudit(uint64_t after, absl::Time since,
                                                            size_t limit) = 0;
  // Audit events with sequence < `before` (0: no bound) and at >= `since`, newest first, at
  // most `limit`.
  virtual absl::StatusOr<std::vector<AuditEvent>> ListAuditNewest(uint64_t before, absl::Time since,
                                                                  size_t limit) = 0;
  // Every signed checkpoint, then every event, read in one snapshot a page at a time and handed
  // to `visitor` row by row: memory does not grow with the log.
  virtual absl::Status VisitAuditLog(const AuditLogVisitor& visitor) = 0;
  // The checkpoints covering any sequence in [first, last], by id.
  virtual absl::StatusOr<std::vector<AuditCheckpoint>> CheckpointsCovering(uint64_t first,
                                                                           uint64_t last) = 0;
};

}  // namespace keyfleet::controller
