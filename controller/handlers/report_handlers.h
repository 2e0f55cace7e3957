// Admin reads across the fleet: hosts, access review, compliance, audit and rollout status.
// Desired state comes from this replica's view; what agents applied comes from the store, so
// every replica answers alike wherever an agent is connected.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/access_truth.h"
#include "controller/audit_chain.h"
#include "controller/audit_signer.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

// An account a host's agent could not write, and why (from its last report).
struct AccountFailureRecord {
  std::string account;
  std::string reason;
};

// The failures in a host's last report; a malformed record reads as one failure saying so.
// A revocations error (the host's KRL is behind: sshd may accept a revoked key there) is one
// more, without an account, last: a host with one is failed wherever failures are counted.
std::vector<AccountFailureRecord> FailuresOf(const HostRecord& host);

struct HostStatus {
  HostRecord host;  // including the last report
  uint64_t desired_generation = 0;
  std::string desired_digest;
  // The last applied digest is the current desired one, and every account was written.
  bool converged = false;
  std::vector<AccountFailureRecord> failed_accounts;  // non-empty: failed, not converged
};

// `keyfleet access`: what sshd on the host does (access_truth.h), with the inventory's record of
// each key keyfleet knows.
struct AccessReviewResult {
  AccessAnswer answer;
  std::map<std::string, KeyRecord> keys;  // by fingerprint
};

struct VerifyAccessResult {
  VerifyResult verdict;
  std::map<std::string, KeyRecord> keys;
  KeyFilesMode key_files = KeyFilesMode::kHome;  // where the host's agent writes
};

struct ComplianceReport {
  std::vector<KeyRecord> expired_or_overdue;  // past expires_at or older than the max age
  std::vector<KeyRecord> expiring_soon;       // within the warning window
  std::vector<KeyRecord> weak_type;           // no longer allowed by the key policy
  std::vector<HostStatus> not_converged;
  std::vector<HostStatus> not_seen;  // not seen for settings.host_stale_after
  // Active keys created at least stale_after ago with no use recorded within it: never-used
  // ones first, then by oldest last use.
  std::vector<KeyRecord> stale;
  std::map<std::string, absl::Time> last_used;  // of the stale keys ever used
  absl::Duration stale_after;
};

// A key unused for this long is stale, unless the compliance report asks otherwise.
inline constexpr absl::Duration kDefaultStaleAfter = absl::Hours(24 * 90);

// The fleet at a glance (FleetStatusResponse): every visible host in exactly one state.
struct FleetStatus {
  uint32_t hosts = 0, converged = 0, pending = 0, failed = 0, offline = 0;
  uint32_t not_seen = 0;  // offline for longer than stale_after
  // At most the list limit of each, in hostname order; drift dropped from the records.
  std::vector<HostStatus> failed_hosts, pending_hosts, offline_hosts;
  bool lists_truncated = false;
  struct Drift {
    uint32_t hosts = 0, items = 0;
  };
  std::map<std::string, Drift> drift;  // by kind name as reports store it ("DRIFT_KIND_…")
  absl::Duration stale_after;
};

struct KeyReach {
  ReachResult reach;
  std::set<std::string> applied;  // hosts among reach.lines that applied their desired state
  std::map<int64_t, std::string> grant_options;  // of the grants among reach.lines
};

// One owner's standing in the rotation campaign (or everyone's, with principal "").
struct OwnerRotation {
  std::string principal;
  uint32_t keys = 0, rotated = 0, due = 0, overdue = 0;
  std::vector<std::string> due_fingerprints, overdue_fingerprints;
};
struct RotationReport {
  absl::Time cycle_start;  // now - the default max_key_age (each kind counts its own cycle)
  PolicyRecord policy;
  OwnerRotation overall;
  std::vector<OwnerRotation> owners;  // by principal
};

struct RolloutStatus {
  uint64_t change = 0;
  uint32_t targeted = 0;
  uint32_t converged = 0;
  std::vector<std::string> pending;  // connected targeted hosts not yet converged, sorted
  std::vector<std::string> offline;  // targeted hosts not connected (not seen recently), sorted
  // Targeted hosts that applied the change but could not write some accounts, sorted.
  std::vector<std::pair<std::string, std::vector<AccountFailureRecord>>> failed;
};

// What `audit verify` trusts: the keys signed checkpoints must verify under (the controller's
// audit key; earlier keys after a rotation), and the highest sequence this replica itself
// signed. With no keys only the hash chain is checked.
struct AuditTrust {
  std::vector<const AuditVerifier*> keys;
  std::function<uint64_t()> signed_head;
};

// An audit event as `audit export` writes it: with the signed checkpoint covering it, if any.
struct ExportedAuditEvent {
  AuditEvent event;
  std::shared_ptr<const AuditCheckpoint> checkpoint;  // null: none covers it
};

// Verifies the audit log in `store` as VerifyAuditLog does with `trusted` keys, or as
// VerifyAuditChain does with none, reading it in one snapshot a page at a time: memory grows by
// 48 bytes per signed event and 16 per checkpoint (AuditLogVerifier), not with the events, and
// is returned to the system afterwards. `signed_head` must be read before this call, so that no
// event it counts is newer than the snapshot.
// `cancelled`, when set, is asked now and then: true ends the read with CANCELLED.
absl::StatusOr<AuditVerification> VerifyStoredAuditLog(
    Store& store, const std::vector<const AuditVerifier*>& trusted, uint64_t signed_head,
    const std::function<bool()>& cancelled = nullptr);

class ReportHandlers {
 public:
  explicit ReportHandlers(HandlerContext& ctx, AuditTrust trust = {})
      : ctx_(ctx), trust_(std::move(trust)) {}

  absl::StatusOr<std::vector<HostStatus>> ListHosts() const;
  // At most `limit` hosts named after `after` ("": from the first) that `visible` accepts, in
  // hostname order, with their status: a page of the fleet, read from the database a batch at
  // a time (keyset_read.h).
  absl::StatusOr<std::vector<HostStatus>> ListHostsAfter(
      const std::string& after, size_t limit,
      const std::function<bool(const HostRecord&)>& visible) const;
  absl::StatusOr<HostStatus> GetHost(const std::string& hostname) const;
  // Who can log into `hostname` as `account` (every account when empty): the desired state
  // joined with what the host last reported of its files and accounts.
  absl::StatusOr<AccessReviewResult> AccessReview(const std::string& hostname,
                                                  const std::string& account) const;
  // Would the key `fingerprint` log into `hostname` as `account` now (from `from_address`)?
  absl::StatusOr<VerifyAccessResult> VerifyAccess(const std::string& hostname,
                                                  const std::string& account,
                                                  const std::string& fingerprint,
                                                  const std::string& from_address) const;
  // `stale_after`: the stale-key window (kDefaultStaleAfter when nullopt; INVALID_ARGUMENT when
  // not positive).
  absl::StatusOr<ComplianceReport> Compliance(
      std::optional<absl::Duration> stale_after = std::nullopt) const;
  // Every host `visible` accepts, read `batch` at a time; at most `list_limit` listed per state.
  // `cancelled`, when set, is asked before each batch: true ends it with CANCELLED.
  absl::StatusOr<FleetStatus> Fleet(size_t list_limit,
                                    const std::function<bool(const HostRecord&)>& visible,
                                    const std::function<bool()>& cancelled = nullptr,
                                    size_t batch = 1000) const;
  // FleetView::Reach for a known key (`fingerprint`) or principal, with whether each host
  // reached has applied its desired state (from the store, as every other status here).
  absl::StatusOr<KeyReach> Reach(const std::string& principal, const std::string& fingerprint,
                                 size_t limit,
                                 const std::function<bool(const Labels&)>& visible) const;
  // The rotation campaign over the current keys (neither superseded nor revoked): a key is
  // overdue once older than the max age or expired, due when it will be within the warning
  // window, rotated when created within the cycle and neither.
  RotationReport Rotation() const;
  absl::StatusOr<std::vector<AuditEvent>> ListAudit(absl::Time since) const;
  // At most `limit` events after sequence `after` and at or after `since`, oldest first.
  absl::StatusOr<std::vector<AuditEvent>> ListAuditPage(uint64_t after, absl::Time since,
                                                        size_t limit) const {
    return ctx_.store.ListAudit(after, since, limit);
  }
  // At most `limit` events before sequence `before` (0: the newest) and at or after `since`,
  // newest first.
  absl::StatusOr<std::vector<AuditEvent>> ListAuditNewestPage(uint64_t before, absl::Time since,
                                                              size_t limit) const {
    return ctx_.store.ListAuditNewest(before, since, limit);
  }
  // The chain and, with trusted keys, every signed checkpoint (audit_chain.h VerifyAuditLog).
  absl::StatusOr<AuditVerification> VerifyAudit(
      const std::function<bool()>& cancelled = nullptr) const;
  // Events with sequence > `after` and at >= `since`, oldest first, at most `limit`, each with
  // the checkpoint that covers it.
  absl::StatusOr<std::vector<ExportedAuditEvent>> ExportAudit(uint64_t after, absl::Time since,
                                                              size_t limit) const;
  // For `change` (0: the latest): targeted hosts and how many have applied it; with `visible`,
  // only the targeted hosts it accepts count (a scoped caller's).
  absl::StatusOr<RolloutStatus> Rollout(
      uint64_t change, const std::function<bool(const std::string&)>& visible = nullptr) const;

 private:
  HostStatus StatusOf(HostRecord host) const;

  HandlerContext& ctx_;
  AuditTrust trust_;
};

}  // namespace keyfleet::controller
