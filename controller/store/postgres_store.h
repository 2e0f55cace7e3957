// The Store on PostgreSQL (libpqxx). All SQL is in pg_statements.h; every call goes through
// PgPool, which retries lost connections.
#pragma once

#include <functional>
#include <memory>

#include "controller/store/mutation_log.h"
#include "controller/store/pg_pool.h"
#include "controller/store/store.h"

namespace keyfleet::controller {

class PostgresStore : public Store {
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
  absl::StatusOr<uint64_t> RevokeKey(const MutationContext& ctx, const std::string& fingerprint,
                                     const std::string& reason) override;
  absl::StatusOr<std::pair<uint64_t, GrantRecord>> AddGrant(const MutationContext& ctx,
                                                            const GrantRecord& grant) override;
  absl::StatusOr<uint64_t> RemoveGrant(const MutationContext& ctx, int64_t id) override;
  absl::StatusOr<uint64_t> SetPolicy(const MutationContext& ctx,
                                     const PolicyRecord& policy) override;
  absl::StatusOr<uint64_t> RegisterHost(const MutationContext& ctx, const std::string& hostname,
                                        const Labels& labels) override;
  absl::StatusOr<uint64_t> SetHostLabels(const MutationContext& ctx, const std::string& hostname,
                                         const Labels& labels) override;
  absl::StatusOr<uint64_t> RemoveHost(const MutationContext& ctx,
                                      const std::string& hostname) override;
  absl::Status CreateJoinToken(const MutationContext& ctx, const JoinTokenRecord& token) override;
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens() override;
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
  absl::Status RecordHostReports(const std::vector<HostReport>& reports) override;
  absl::StatusOr<std::vector<HostRecord>> ListHosts() override;
  absl::Status TouchHosts(const std::vector<std::string>& hostnames, absl::Time at) override;
  absl::StatusOr<std::vector<AuditEvent>> ListAudit(uint64_t after, absl::Time since,
                                                    size_t limit) override;

 private:
  using MutationBody = std::function<absl::StatusOr<MutationLog>(pqxx::dbtransaction&)>;
  // Runs `body` under the inventory lock, then appends its audit entries to the hash chain and
  // its changes to the feed, notifies, and commits: all in one transaction. Returns the last
  // change's sequence, or 0 when the body logged nothing.
  absl::StatusOr<uint64_t> Mutate(const MutationContext& ctx, absl::string_view what,
                                  const MutationBody& body);

  PgPool pool_;
};

}  // namespace keyfleet::controller
