// The in-memory fleet view of one controller replica: principals, keys, grants, hosts and
// policy, loaded from a store snapshot and advanced change by change from the feed. Desired
// state is computed here, per host, in memory; a change only recomputes the hosts it can
// affect, and reports which hosts' desired state actually changed (the change's rollout
// targets). Thread-safe: readers share a lock, Reset/Apply/Tick take it exclusively.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/authorized_keys_options.h"
#include "controller/desired_state.h"
#include "controller/model.h"

namespace keyfleet::controller {

// How many recent changes keep their rollout targets.
inline constexpr size_t kRolloutHistory = 4096;

struct KeyFilter {
  std::string principal;             // empty: all
  std::optional<std::string> state;  // "active", "superseded", "expired", "revoked"
  std::optional<absl::Duration> expiring_within;
  // Keys with no recorded use within this long (InventoryHandlers::ListKeys applies it with
  // UsedSince; Keys ignores it).
  std::optional<absl::Duration> unused_for;
};

// What a mutation would add to the fleet, for FleetView::CheckDelivery (which changes nothing).
struct ProposedChange {
  std::vector<GrantRecord> new_grants;        // AddGrant; RotateKey (carried grants)
  std::vector<KeyRecord> new_keys;            // AddKeys: keys of one principal
  std::optional<KeyRecord> relabelled_key;    // LabelKey: the key with its new label
  std::optional<HostRecord> relabelled_host;  // LabelHost, Enroll: the host with its new labels
};

struct RolloutTargets {
  uint64_t change = 0;
  std::vector<std::string> hosts;  // whose desired state that change altered
};

class FleetView {
 public:
  // `default_policy` applies until a policy is stored.
  explicit FleetView(PolicyRecord default_policy);

  // Replaces everything with `snapshot`, computing every host's desired state as of `now`.
  absl::Status Reset(const Snapshot& snapshot, absl::Time now);
  // Applies one change; its sequence must be above sequence(). Returns the hosts whose desired
  // state changed. A malformed payload is DATA_LOSS and leaves the view unchanged.
  absl::StatusOr<std::vector<std::string>> Apply(const Change& change, absl::Time now);
  // Applies `changes` (in sequence order) and recomputes each host they affect once. Sets
  // *changed_hosts to the hosts whose desired state changed (and hosts a change was about); each
  // change's rollout targets are the hosts it affected whose state changed. On a malformed
  // payload the changes before it stay applied (and their hosts are in *changed_hosts), and
  // DATA_LOSS is returned.
  absl::Status ApplyBatch(const std::vector<Change>& changes, absl::Time now,
                          std::vector<std::string>* changed_hosts);
  // Recomputes hosts with a line that expired by `now`; returns those whose state changed.
  std::vector<std::string> Tick(absl::Time now);

  uint64_t sequence() const;
  std::string epoch() const;  // the snapshot's
  // API credentials, as of the view's sequence (revoked and expired ones too).
  std::optional<ApiCredentialRecord> FindCredential(const std::string& id) const;
  std::vector<ApiCredentialRecord> Credentials() const;
  PolicyRecord policy() const;

  std::vector<PrincipalRecord> Principals() const;
  std::optional<PrincipalRecord> FindPrincipal(const std::string& name) const;
  std::optional<KeyRecord> FindKey(const std::string& fingerprint) const;
  // The key whose successor is `fingerprint` ("" for none).
  std::string PredecessorOf(const std::string& fingerprint) const;
  // Keys matching `filter` at `now`, in fingerprint order.
  std::vector<KeyRecord> Keys(const KeyFilter& filter, absl::Time now) const;
  std::vector<GrantRecord> Grants() const;
  std::optional<GrantRecord> FindGrant(int64_t id) const;
  std::vector<HostRecord> Hosts() const;
  std::optional<HostRecord> FindHost(const std::string& hostname) const;
  // The host's current enrollment id ("" for a host registered by an --insecure-dev hello);
  // nullopt for an unknown host. Cheap: no copy of the record (checked on every notification).
  std::optional<std::string> EnrollmentIdOf(const std::string& hostname) const;
  // Grants whose selector matches the host.
  std::vector<GrantRecord> GrantsForHost(const std::string& hostname) const;

  // OK when every host the change would reach could still be sent and could still write its
  // files (common/delivery_limits.h: managed keys per account, managed block bytes, desired
  // state bytes); else INVALID_ARGUMENT naming the limit, the first host and account over it,
  // and how many hosts are. Checked against this view: two racing mutations may pass it
  // together, and the agent then reports the account as failed (never silently dropped).
  absl::Status CheckDelivery(const ProposedChange& change, absl::Time now) const;

  // nullopt for a host the view does not know.
  std::optional<HostDesiredState> DesiredState(const std::string& hostname) const;
  // Its digest alone, without copying the state (the metrics ask it of every connected host).
  std::optional<std::string> DesiredDigest(const std::string& hostname) const;
  size_t host_count() const;
  // The fleet's revoked keys: raw SHA-256 digests of their blobs, in ascending order, from
  // `offset`, at most `limit`. Sets *total to how many there are and *epoch to the view's, and
  // (when given) *kill_sessions to those of the page revoked with kill_sessions, in order.
  // Revocations are permanent, so within an epoch the list only grows.
  std::vector<std::string> RevokedPage(uint64_t offset, size_t limit, uint64_t* total,
                                       std::string* epoch,
                                       std::vector<std::string>* kill_sessions = nullptr) const;
  // What every desired state carries of it (the count and the newest few).
  RevocationListPtr Revocations() const;

  // Last use of keys, in memory so that listing keys never waits for the database: merged from
  // the store's table (at start and then periodically: other replicas' agents) and from the
  // uses this replica's agents report, keeping the newest time of each key.
  // `whole_table`: `uses` is the store's whole table (last use is known from then on).
  void NoteLastUses(const std::map<std::string, absl::Time>& uses, bool whole_table = false);
  // Before the store's table was merged once last use is unknown: both are UNAVAILABLE then.
  // The newest use of each of `fingerprints` known; keys never used are absent.
  absl::StatusOr<std::map<std::string, absl::Time>> LastUses(
      const std::vector<std::string>& fingerprints) const;
  // The keys used at or after `since`.
  absl::StatusOr<std::set<std::string>> UsedSince(absl::Time since) const;
  // Computed on demand, as of `now`.
  std::optional<std::vector<AccessLine>> Access(const std::string& hostname, absl::Time now) const;
  // Where the key `fingerprint` (or, when it is empty, each key of `principal`) logs in now:
  // every line the hosts' desired states hold for it, in hostname order, of the hosts whose
  // labels `visible` accepts. At most `limit` lines are returned; all are counted.
  ReachResult Reach(const std::string& principal, const std::string& fingerprint, absl::Time now,
                    size_t limit, const std::function<bool(const Labels&)>& visible) const;
  // The targets of `change`, or of the latest change with targets when `change` is 0;
  // nullopt when that change is older than the kept history or not yet seen.
  std::optional<RolloutTargets> Rollout(uint64_t change) const;

  // A key's state as users see it: "expired" once past expires_at, else its stored state.
  static std::string EffectiveKeyState(const KeyRecord& key, absl::Time now);

 private:
  struct GrantEntry {
    GrantRecord record;
    AuthorizedKeysOptions options;
  };
  struct HostEntry {
    HostRecord record;
    std::set<int64_t> grants;  // matching grant ids
    HostDesiredState desired;
    absl::Time next_expiry = absl::InfiniteFuture();
  };

  // Applies one change, naming in `dirty` the hosts whose desired state it may alter, or
  // setting *all_hosts when it may alter every host's (a revocation, the policy): a fleet of
  // names is then neither listed nor copied per change.
  absl::Status ApplyLocked(const Change& change, std::set<std::string>* dirty, bool* all_hosts);
  // Adds or replaces a key, marking the hosts that used its old or use its new owner dirty.
  void PutKeyLocked(KeyRecord key, std::set<std::string>* dirty);
  // Adds the revoked key `fingerprint` to the revocation list (once; never removed, also when
  // the key is removed later), with its kill_sessions flag. True when it was not there yet:
  // every host's state then changes (each one's KRL must hold it).
  bool NoteRevokedLocked(const std::string& fingerprint, bool ends_sessions);
  void RebuildRevocationsLocked();
  void MatchGrantLocked(const GrantEntry& grant, std::set<std::string>* dirty);
  void MatchHostLocked(HostEntry& host);
  void DirtyHostsUsingLocked(const std::string& principal, const std::string& fingerprint,
                             std::set<std::string>* dirty) const;
  // Every line the grants `grant_ids` allow at `now`, grouped by account (accounts of matching
  // grants are present even when empty) and sorted; sets *next_expiry to the earliest expiry.
  // With `proposed`, as if that change were made (grant id kProposedGrantId - i is its i-th new
  // grant).
  std::map<std::string, std::vector<AccessLine>> ComputeAccessLocked(
      const std::set<int64_t>& grant_ids, absl::Time now, absl::Time* next_expiry,
      const ProposedChange* proposed = nullptr) const;
  static constexpr int64_t kProposedGrantId = -1;
  static ManagedLinePtr RenderLine(const GrantEntry& grant, const KeyRecord& key,
                                   absl::Time expiry);
  // The shared line for (grant, key, expiry), rendered once and cached.
  ManagedLinePtr LineFor(const GrantEntry& grant, const KeyRecord& key, absl::Time expiry) const;
  void ForgetLinesOfKeyLocked(const std::string& fingerprint);
  void ForgetLinesOfGrantLocked(int64_t id);
  // Hosts matched by the same grants get the same content: one batch of recomputations
  // (Reset, Apply, Tick) computes each distinct grant set once.
  struct ComputedContent {
    std::vector<AccountDesiredState> accounts;
    std::string digest;
    absl::Time next_expiry;
  };
  using RecomputeMemo = std::map<std::set<int64_t>, ComputedContent>;
  // Recomputes the host; true when its digest changed.
  bool RecomputeLocked(HostEntry& host, absl::Time now, RecomputeMemo* memo);
  const PolicyRecord& PolicyLocked() const;

  mutable std::shared_mutex mu_;
  PolicyRecord default_policy_;
  std::optional<PolicyRecord> stored_policy_;
  uint64_t sequence_ = 0;
  std::string epoch_;
  std::map<std::string, ApiCredentialRecord> credentials_;  // by id
  std::map<std::string, PrincipalRecord> principals_;
  std::map<std::string, KeyRecord> keys_;
  std::map<std::string, std::set<std::string>> keys_by_principal_;
  std::map<int64_t, GrantEntry> grants_;
  std::map<std::string, HostEntry> hosts_;
  // RolloutTargets, with each change's host list shared by the changes of one batch that
  // altered every host (a batch of 1,000 revocations holds one list, not 1,000).
  struct RolloutRecord {
    uint64_t change = 0;
    std::shared_ptr<const std::vector<std::string>> hosts;
  };
  std::deque<RolloutRecord> rollouts_;
  std::set<std::string> revoked_sha256_;        // raw digests of every revoked key
  std::set<std::string> kill_sessions_sha256_;  // those revoked with kill_sessions
  std::deque<std::string> recent_revoked_;      // the newest, at most kMaxRecentRevocations
  RevocationListPtr revocations_;               // what desired states carry, rebuilt on change
  bool revocations_stale_ = false;

  struct CachedLine {
    absl::Time expiry;
    ManagedLinePtr line;
  };
  // (fingerprint, grant id) -> line. Its own lock: readers holding mu_ shared may fill it.
  mutable std::mutex last_use_mu_;  // guards the two below (not mu_: reports merge often)
  std::map<std::string, absl::Time> last_use_;
  bool last_uses_loaded_ = false;

  mutable std::mutex cache_mu_;
  mutable std::map<std::pair<std::string, int64_t>, CachedLine> line_cache_;
};

}  // namespace keyfleet::controller
