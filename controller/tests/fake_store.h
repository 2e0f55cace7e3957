// An in-memory Store for handler unit tests. It keeps the inventory rules the PostgreSQL store
// keeps (unique fingerprints, blocklist, disabled principals) with the same messages, and logs
// audit events and changes alike. The real store is tested against PostgreSQL.
#pragma once

#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "controller/store/mutation_log.h"
#include "controller/store/store.h"

namespace keyfleet::controller {

class FakeStore : public Store {
 public:
  // The epoch LoadSnapshot reports (a restored database has another).
  void SetEpoch(std::string epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    epoch_ = std::move(epoch);
  }
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
  // No signed checkpoints: PostgresStore signs (tested against PostgreSQL).
  absl::Status VisitAuditLog(const AuditLogVisitor& visitor) override;
  absl::StatusOr<std::vector<AuditCheckpoint>> CheckpointsCovering(uint64_t first,
                                                                   uint64_t last) override;

 private:
  // The newest use of every key ever used; mu_ held.
  std::map<std::string, absl::Time> LastKeyUsesLocked() const;
  uint64_t CommitLocked(const MutationContext& ctx, const MutationLog& log);

  std::mutex mu_;
  std::string epoch_ = "fa4e000000000001";
  std::map<std::string, RequestOutcome> request_outcomes_;
  std::map<std::string, PrincipalRecord> principals_;
  std::map<std::string, KeyRecord> keys_;
  std::map<std::string, RevokedFingerprint> revoked_;
  std::map<int64_t, GrantRecord> grants_;
  std::map<std::string, HostRecord> hosts_;
  std::map<std::string, std::string> observed_;  // HostObservedJson
  // (fingerprint, host, account) -> the newest use; (fingerprint, host) -> sessions ended.
  std::map<std::tuple<std::string, std::string, std::string>, KeyUseRecord> key_uses_;
  std::map<std::pair<std::string, std::string>, SessionsEndedRecord> sessions_ended_;
  std::map<std::string, JoinTokenRecord> tokens_;
  std::map<std::string, ApiCredentialRecord> credentials_;  // by id
  std::optional<PolicyRecord> policy_;
  std::vector<Change> changes_;
  std::vector<AuditEvent> audit_;
  int64_t next_grant_id_ = 1;
};

}  // namespace keyfleet::controller
