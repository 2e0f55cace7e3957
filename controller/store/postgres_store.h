// The Store on PostgreSQL (libpqxx). All SQL is in pg_statements.h; every call goes through
// PgPool, which retries lost connections.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "controller/audit_signer.h"
#include "controller/store/mutation_log.h"
#include "controller/store/notification_outbox.h"
#include "controller/store/pg_pool.h"
#include "controller/store/store.h"

namespace keyfleet::controller {

class PostgresStore : public Store, public NotificationOutbox {
 public:
  // Does not connect: the first call does (and retries within options.retry_budget).
  explicit PostgresStore(PgOptions options);
  ~PostgresStore() override;

  // Applies pending migrations; see migrations.h. Connects once, without retries.
  absl::StatusOr<struct MigrationResult> Migrate();
  // OK when the schema is exactly what this binary knows; FAILED_PRECONDITION naming the fix
  // otherwise (`keyfleet-controller migrate`, or a newer binary).
  absl::Status CheckSchema();

  absl::StatusOr<Snapshot> LoadSnapshot() override;
  // Renews the random part of the database's epoch (audited as database.epoch) and returns the
  // new epoch. For a database restored from a file-level copy, which keeps every other part:
  // running replicas pick the new epoch up within feed_poll_interval (ViewFollower::FollowEpoch),
  // replicas started later at once.
  absl::StatusOr<std::string> RenewDatabaseEpoch(const MutationContext& ctx);
  absl::StatusOr<std::vector<Change>> ChangesSince(uint64_t after, size_t limit) override;
  absl::StatusOr<uint64_t> AddPrincipal(const MutationContext& ctx,
                                        const PrincipalRecord& principal) override;
  absl::StatusOr<uint64_t> DisablePrincipal(const MutationContext& ctx,
                                            const std::string& name) override;
  absl::StatusOr<uint64_t> AddKeys(const MutationContext& ctx,
                                   const std::vector<KeyRecord>& keys) override;
  absl::StatusOr<uint64_t> LabelKey(const MutationContext& ctx, const std::string& fingerprint,
                                    const std::string& label) override;
  absl::StatusOr<uint64_t> RemoveKey(const MutationContext& ctx,
                                     const std::string& fingerprint) override;
  absl::StatusOr<uint64_t> RotateKey(const MutationContext& ctx, const KeyRotation& rotation,
                                     std::vector<GrantRecord>* carried) override;
  absl::StatusOr<uint64_t> RevokeKey(const MutationContext& ctx, const std::string& fingerprint,
                                     const std::string& reason, bool ends_sessions) override;
  absl::StatusOr<std::pair<uint64_t, GrantRecord>> AddGrant(const MutationContext& ctx,
                                                            const GrantRecord& grant) override;
  absl::StatusOr<uint64_t> RemoveGrant(const MutationContext& ctx, int64_t id) override;
  absl::StatusOr<uint64_t> SetPolicy(const MutationContext& ctx, const PolicyRecord& policy,
                                     const std::vector<KeyLifeChange>& shorten) override;
  absl::StatusOr<uint64_t> RegisterHost(const MutationContext& ctx, const std::string& hostname,
                                        const Labels& labels) override;
  absl::StatusOr<uint64_t> SetHostLabels(const MutationContext& ctx, const std::string& hostname,
                                         const Labels& labels) override;
  absl::StatusOr<uint64_t> RemoveHost(const MutationContext& ctx,
                                      const std::string& hostname) override;
  absl::Status CreateJoinToken(const MutationContext& ctx, const JoinTokenRecord& token) override;
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens() override;
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokensAfter(absl::Time created_at,
                                                                   const std::string& id,
                                                                   size_t limit) override;
  absl::StatusOr<std::optional<JoinTokenRecord>> GetJoinToken(const std::string& id) override;
  absl::Status RevokeJoinToken(const MutationContext& ctx, const std::string& id) override;
  absl::StatusOr<EnrollmentResult> EnrollHost(const MutationContext& ctx,
                                              const EnrollmentRequest& request) override;
  absl::Status RecordSecurityEvents(const std::vector<SecurityEvent>& events) override;
  absl::Status CreateApiCredential(const MutationContext& ctx,
                                   const ApiCredentialRecord& credential) override;
  absl::StatusOr<bool> CreateApiCredentialOnce(const MutationContext& ctx,
                                               const ApiCredentialRecord& credential) override;
  absl::StatusOr<std::vector<ApiCredentialRecord>> ListApiCredentials() override;
  absl::StatusOr<std::optional<ApiCredentialRecord>> GetApiCredential(
      const std::string& id) override;
  absl::StatusOr<ApiCredentialRecord> RevokeApiCredential(const MutationContext& ctx,
                                                          const std::string& name_or_id) override;
  absl::Status TouchApiCredential(const std::string& id, absl::Time at) override;
  absl::StatusOr<std::optional<RequestOutcome>> FindRequestOutcome(const std::string& id) override;
  absl::Status RecordRequestResponse(const std::string& id, const std::string& response,
                                     bool secret_withheld) override;
  absl::Status RecordHostReports(const std::vector<HostReport>& reports) override;
  absl::Status RecordKeyUses(const std::vector<KeyUseRecord>& uses) override;
  absl::StatusOr<KeyUsage> KeyUsageOf(const std::string& fingerprint, size_t limit) override;
  absl::StatusOr<std::map<std::string, absl::Time>> AllLastKeyUses() override;
  absl::StatusOr<std::vector<HostRecord>> ListHosts() override;
  absl::StatusOr<std::optional<HostRecord>> FindHost(const std::string& hostname) override;
  absl::StatusOr<std::vector<HostRecord>> FindHostsWithoutDrift(
      const std::vector<std::string>& hostnames) override;
  absl::StatusOr<std::vector<HostRecord>> ListHostsAfter(const std::string& after,
                                                         size_t limit) override;
  absl::StatusOr<std::string> HostObservedJson(const std::string& hostname) override;
  absl::Status TouchHosts(const std::vector<std::string>& hostnames, absl::Time at) override;
  absl::StatusOr<std::vector<AuditEvent>> ListAudit(uint64_t after, absl::Time since,
                                                    size_t limit) override;
  absl::StatusOr<std::vector<AuditEvent>> ListAuditNewest(uint64_t before, absl::Time since,
                                                          size_t limit) override;
  absl::Status VisitAuditLog(const AuditLogVisitor& visitor) override;
  absl::StatusOr<std::vector<AuditCheckpoint>> CheckpointsCovering(uint64_t first,
                                                                   uint64_t last) override;

  // From now on every batch of audit events (one transaction's) is signed with `signer` and the
  // checkpoint stored in the same transaction. Set before the first mutation; not owned.
  void SetAuditSigner(const AuditSigner* signer) { signer_ = signer; }
  // The highest sequence this store has signed and committed (0: none yet): a log that ends
  // before it was cut.
  uint64_t signed_head() const { return signed_head_.load(); }
  // Raises signed_head to `sequence` (what this controller signed before a restart, or another
  // replica recorded; see audit_high_water.h).
  void NoteSigned(uint64_t sequence);
  // A database from before signed checkpoints has events and no checkpoint: when the chain
  // verifies, signs them all (in checkpoints of at most kMaxCheckpointEvents). Returns how many
  // events it signed (0 when there were checkpoints already, or no events). FAILED_PRECONDITION,
  // signing nothing, when the chain does not verify.
  absl::StatusOr<uint64_t> AdoptUnsignedAudit();

 private:
  using MutationBody = std::function<absl::StatusOr<MutationLog>(pqxx::dbtransaction&)>;
  // Runs `body` under the inventory lock, then appends its audit entries to the hash chain and
  // its changes to the feed, notifies, and commits: all in one transaction. Returns the last
  // change's sequence, or 0 when the body logged nothing.
  // AddKeys for a batch (IsKeyBatch): one change and one audit event.
  absl::StatusOr<uint64_t> AddKeyBatch(const MutationContext& ctx,
                                       const std::vector<KeyRecord>& keys);
  absl::StatusOr<uint64_t> Mutate(const MutationContext& ctx, absl::string_view what,
                                  const MutationBody& body);

  // Appends `entries` (as `ctx`) to the chain and signs the batch when there is a signer.
  absl::Status AppendAudit(pqxx::dbtransaction& txn, const std::vector<AuditEntry>& entries,
                           const std::vector<MutationContext>& contexts, uint64_t* last_signed);
  absl::Status InsertCheckpoint(pqxx::dbtransaction& txn, CheckpointEvents events,
                                uint64_t* last_signed);

  // NotificationOutbox (postgres_outbox.cc).
 public:
  absl::Status Enqueue(const std::vector<OutboxEntry>& entries) override;
  absl::StatusOr<size_t> FanOut(
      const std::function<std::vector<std::string>(const notify::Notification&)>& sinks_for,
      absl::Time now, size_t limit) override;
  absl::StatusOr<std::optional<ClaimedDelivery>> ClaimDue(absl::Time now,
                                                          absl::Duration lease) override;
  absl::Status MarkDelivered(int64_t delivery_id, absl::Time now) override;
  absl::Status MarkRetry(int64_t delivery_id, absl::Time retry_at,
                         const std::string& error) override;
  absl::Status MarkDead(int64_t delivery_id, const std::string& error) override;
  absl::StatusOr<DeliveryCounts> CountDeliveries() override;
  absl::StatusOr<std::vector<DeliveryRow>> ListDeliveries(const std::string& state,
                                                          size_t limit) override;
  absl::Status RetryDelivery(int64_t delivery_id, absl::Time now) override;

 private:
  PgPool pool_;
  const AuditSigner* signer_ = nullptr;
  std::atomic<uint64_t> signed_head_{0};
};

}  // namespace keyfleet::controller
