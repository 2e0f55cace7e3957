#include "controller/fleet_view.h"

#include <algorithm>
#include <iterator>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/delivery_limits.h"
#include "common/revocation_limits.h"
#include "common/sha256_fingerprint.h"
#include "common/status_macros.h"
#include "controller/host_selector.h"
#include "controller/record_json.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {

FleetView::FleetView(PolicyRecord default_policy) : default_policy_(std::move(default_policy)) {}

const PolicyRecord& FleetView::PolicyLocked() const {
  return stored_policy_ ? *stored_policy_ : default_policy_;
}

std::string FleetView::EffectiveKeyState(const KeyRecord& key, absl::Time now) {
  if (key.state == KeyState::kRevoked) return "revoked";
  if (key.expires_at <= now) return "expired";
  return KeyStateName(key.state);
}

absl::Status FleetView::Reset(const Snapshot& snapshot, absl::Time now) {
  std::map<int64_t, GrantEntry> grants;
  for (const GrantRecord& g : snapshot.grants) {
    absl::StatusOr<AuthorizedKeysOptions> options = ParseStoredGrantOptions(g.options);
    if (!options.ok()) {
      return absl::DataLossError(absl::StrCat(
          "stored grant ", g.id, " has invalid options: ", options.status().message()));
    }
    grants[g.id] = GrantEntry{g, *std::move(options)};
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  sequence_ = snapshot.sequence;
  epoch_ = snapshot.epoch;
  credentials_.clear();
  for (const ApiCredentialRecord& c : snapshot.credentials) credentials_[c.id] = c;
  stored_policy_ = snapshot.policy;
  principals_.clear();
  for (const PrincipalRecord& p : snapshot.principals) principals_[p.name] = p;
  keys_.clear();
  keys_by_principal_.clear();
  revoked_sha256_.clear();
  kill_sessions_sha256_.clear();
  recent_revoked_.clear();
  // Every host is computed below: which ones a revocation alters does not matter here.
  for (const KeyRecord& k : snapshot.keys) {
    keys_[k.fingerprint] = k;
    keys_by_principal_[k.principal].insert(k.fingerprint);
    if (k.state == KeyState::kRevoked) {
      NoteRevokedLocked(k.fingerprint, k.revocation_ends_sessions);
    }
  }
  for (const SnapshotRevocation& revoked : snapshot.revoked_fingerprints) {
    NoteRevokedLocked(revoked.fingerprint, revoked.ends_sessions);
  }
  // What a replica loaded is not "recent": only revocations it follows later are.
  recent_revoked_.clear();
  RebuildRevocationsLocked();
  NoteLastUses(snapshot.last_uses, /*whole_table=*/true);
  grants_ = std::move(grants);
  {
    std::lock_guard<std::mutex> cache_lock(cache_mu_);
    line_cache_.clear();
  }
  hosts_.clear();
  rollouts_.clear();
  RecomputeMemo memo;
  for (const HostRecord& h : snapshot.hosts) {
    HostEntry& entry = hosts_[h.hostname];
    entry.record = h;
    MatchHostLocked(entry);
    RecomputeLocked(entry, now, &memo);
    entry.desired.generation = sequence_;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FleetView::Apply(const Change& change, absl::Time now) {
  std::vector<std::string> changed;
  KF_RETURN_IF_ERROR(ApplyBatch({change}, now, &changed));
  return changed;
}

absl::Status FleetView::ApplyBatch(const std::vector<Change>& changes, absl::Time now,
                                   std::vector<std::string>* changed_hosts) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  // Every change is applied first and the hosts they dirtied are recomputed once: a request
  // that added 4,096 keys (4,096 changes) recomputes each host once, not 4,096 times.
  struct Applied {
    uint64_t sequence;
    std::set<std::string> dirty;
    bool all_hosts;
  };
  std::vector<Applied> applied;
  std::set<std::string> dirty_all, own_host_changes;
  bool all_hosts_dirty = false;
  absl::Status failed;
  for (const Change& change : changes) {
    if (change.sequence <= sequence_) continue;  // already applied
    std::set<std::string> dirty;
    bool all_hosts = false;
    failed = ApplyLocked(change, &dirty, &all_hosts);
    if (!failed.ok()) break;  // this change left the view unchanged; the earlier ones stay
    sequence_ = change.sequence;
    if (all_hosts) {
      all_hosts_dirty = true;
      dirty.clear();
    } else if (!all_hosts_dirty) {
      dirty_all.insert(dirty.begin(), dirty.end());
    }
    // A host's own change (removed, enrolled again, relabelled) reaches its streams even when
    // its desired state is unchanged: they check whether their certificate still names it.
    if (change.entity == EntityKind::kHost) own_host_changes.insert(change.entity_key);
    applied.push_back({change.sequence, std::move(dirty), all_hosts});
  }
  if (revocations_stale_) RebuildRevocationsLocked();
  std::set<std::string> changed;
  RecomputeMemo memo;
  auto recompute = [&](const std::string& hostname, HostEntry& host) {
    if (RecomputeLocked(host, now, &memo)) {
      host.desired.generation = sequence_;
      changed.insert(hostname);
    }
  };
  if (all_hosts_dirty) {
    for (auto& [hostname, host] : hosts_) recompute(hostname, host);
  } else {
    for (const std::string& hostname : dirty_all) {
      auto host = hosts_.find(hostname);
      if (host != hosts_.end()) recompute(hostname, host->second);  // else removed
    }
  }
  std::shared_ptr<const std::vector<std::string>> every_changed;  // made once, when needed
  for (const Applied& a : applied) {
    RolloutRecord record{a.sequence, nullptr};
    if (a.all_hosts) {
      if (!every_changed) {
        every_changed =
            std::make_shared<const std::vector<std::string>>(changed.begin(), changed.end());
      }
      record.hosts = every_changed;
    } else {
      auto hosts = std::make_shared<std::vector<std::string>>();
      for (const std::string& h : a.dirty) {
        if (changed.count(h)) hosts->push_back(h);
      }
      record.hosts = std::move(hosts);
    }
    rollouts_.push_back(std::move(record));
    if (rollouts_.size() > kRolloutHistory) rollouts_.pop_front();
  }
  changed_hosts->assign(changed.begin(), changed.end());
  for (const std::string& h : own_host_changes) {
    if (!changed.count(h)) changed_hosts->push_back(h);
  }
  return failed;
}

std::vector<std::string> FleetView::Tick(absl::Time now) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> changed;
  RecomputeMemo memo;
  for (auto& [hostname, host] : hosts_) {
    if (host.next_expiry > now) continue;
    // An expiry changes the content, not which change it reflects: the generation stays, and
    // agents apply the same generation with a new digest.
    if (RecomputeLocked(host, now, &memo)) changed.push_back(hostname);
  }
  return changed;
}

absl::Status FleetView::ApplyLocked(const Change& change, std::set<std::string>* dirty,
                                    bool* all_hosts) {
  switch (change.entity) {
    case EntityKind::kPrincipal: {
      KF_ASSIGN_OR_RETURN(PrincipalRecord p, PrincipalFromJson(change.after_json));
      principals_[p.name] = p;
      DirtyHostsUsingLocked(p.name, "", dirty);
      return absl::OkStatus();
    }
    case EntityKind::kKey: {
      ForgetLinesOfKeyLocked(change.entity_key);
      auto existing = keys_.find(change.entity_key);
      if (existing != keys_.end()) {
        DirtyHostsUsingLocked(existing->second.principal, existing->first, dirty);
      }
      if (change.after_json.empty()) {
        if (existing != keys_.end()) {
          keys_by_principal_[existing->second.principal].erase(existing->first);
          keys_.erase(existing);
        }
        return absl::OkStatus();
      }
      KF_ASSIGN_OR_RETURN(KeyRecord k, KeyFromJson(change.after_json));
      if (k.state == KeyState::kRevoked &&
          NoteRevokedLocked(k.fingerprint, k.revocation_ends_sessions)) {
        *all_hosts = true;
      }
      PutKeyLocked(std::move(k), dirty);
      return absl::OkStatus();
    }
    case EntityKind::kKeyBatch: {
      KF_ASSIGN_OR_RETURN(std::vector<KeyRecord> keys, KeysFromJson(change.after_json));
      // Parsed in full before anything is applied: a bad payload leaves the view unchanged.
      for (KeyRecord& k : keys) {
        ForgetLinesOfKeyLocked(k.fingerprint);
        if (k.state == KeyState::kRevoked &&
            NoteRevokedLocked(k.fingerprint, k.revocation_ends_sessions)) {
          *all_hosts = true;
        }
        PutKeyLocked(std::move(k), dirty);
      }
      return absl::OkStatus();
    }
    case EntityKind::kGrant: {
      int64_t id = 0;
      if (!absl::SimpleAtoi(change.entity_key, &id)) {
        return absl::DataLossError(
            absl::StrCat("change ", change.sequence, ": bad grant id \"", change.entity_key, "\""));
      }
      ForgetLinesOfGrantLocked(id);
      if (change.after_json.empty()) {
        grants_.erase(id);
        for (auto& [hostname, host] : hosts_) {
          if (host.grants.erase(id)) dirty->insert(hostname);
        }
        return absl::OkStatus();
      }
      KF_ASSIGN_OR_RETURN(GrantRecord g, GrantFromJson(change.after_json));
      absl::StatusOr<AuthorizedKeysOptions> options = ParseStoredGrantOptions(g.options);
      if (!options.ok()) {
        return absl::DataLossError(
            absl::StrCat("change ", change.sequence, ": grant ", id,
                         " has invalid options: ", options.status().message()));
      }
      GrantEntry& entry = grants_[id];
      entry = GrantEntry{std::move(g), *std::move(options)};
      MatchGrantLocked(entry, dirty);
      return absl::OkStatus();
    }
    case EntityKind::kHost: {
      if (change.after_json.empty()) {
        hosts_.erase(change.entity_key);
        return absl::OkStatus();
      }
      KF_ASSIGN_OR_RETURN(HostRecord h, HostFromJson(change.after_json));
      HostEntry& entry = hosts_[h.hostname];
      if (entry.record.hostname.empty()) {
        entry.record = h;
      } else {
        // Reports and seen-marks are not changes: keep what the view already holds of those.
        entry.record.labels = h.labels;
        entry.record.enrollment_id = h.enrollment_id;
        entry.record.enrolled_at = h.enrolled_at;
        entry.record.certificate_expires = h.certificate_expires;
      }
      MatchHostLocked(entry);
      dirty->insert(h.hostname);
      return absl::OkStatus();
    }
    case EntityKind::kPolicy: {
      KF_ASSIGN_OR_RETURN(PolicyRecord p, PolicyFromJson(change.after_json));
      stored_policy_ = std::move(p);
      *all_hosts = true;
      return absl::OkStatus();
    }
    case EntityKind::kCredential: {  // no host's desired state depends on it
      if (change.after_json.empty()) {
        credentials_.erase(change.entity_key);
        return absl::OkStatus();
      }
      KF_ASSIGN_OR_RETURN(ApiCredentialRecord c, ApiCredentialFromJson(change.after_json));
      credentials_[c.id] = std::move(c);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown entity kind");
}

bool FleetView::NoteRevokedLocked(const std::string& fingerprint, bool ends_sessions) {
  absl::StatusOr<std::string> digest = Sha256FingerprintDigest(fingerprint);
  if (!digest.ok()) {
    // Every fingerprint the store accepts is a SHA256 one: this is a damaged record.
    spdlog::error("revoked key \"{}\" has no SHA256 fingerprint; it is left out of the KRL: {}",
                  fingerprint.substr(0, 80), digest.status().ToString());
    return false;
  }
  // The flag belongs to the revocation and never changes; a copy of it arriving again (the key
  // and the blocklist entry of one snapshot) changes nothing.
  if (ends_sessions && kill_sessions_sha256_.insert(*digest).second) revocations_stale_ = true;
  if (!revoked_sha256_.insert(*digest).second) return false;
  recent_revoked_.push_back(*std::move(digest));
  if (recent_revoked_.size() > kMaxRecentRevocations) recent_revoked_.pop_front();
  revocations_stale_ = true;
  return true;
}

void FleetView::RebuildRevocationsLocked() {
  auto list = std::make_shared<RevocationList>();
  list->total = revoked_sha256_.size();
  list->recent_sha256.assign(recent_revoked_.begin(), recent_revoked_.end());
  for (const std::string& digest : recent_revoked_) {
    if (kill_sessions_sha256_.count(digest)) list->recent_kill_sha256.push_back(digest);
  }
  revocations_ = std::move(list);
  revocations_stale_ = false;
}

std::vector<std::string> FleetView::RevokedPage(uint64_t offset, size_t limit, uint64_t* total,
                                                std::string* epoch,
                                                std::vector<std::string>* kill_sessions) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  *total = revoked_sha256_.size();
  *epoch = epoch_;
  if (kill_sessions != nullptr) kill_sessions->clear();
  std::vector<std::string> page;
  if (offset >= revoked_sha256_.size()) return page;
  auto it = revoked_sha256_.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(offset));
  for (; it != revoked_sha256_.end() && page.size() < limit; ++it) {
    page.push_back(*it);
    if (kill_sessions != nullptr && kill_sessions_sha256_.count(*it)) {
      kill_sessions->push_back(*it);
    }
  }
  return page;
}

RevocationListPtr FleetView::Revocations() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return revocations_;
}

void FleetView::NoteLastUses(const std::map<std::string, absl::Time>& uses, bool whole_table) {
  std::lock_guard<std::mutex> lock(last_use_mu_);
  if (whole_table) last_uses_loaded_ = true;
  for (const auto& [fingerprint, at] : uses) {
    auto [it, added] = last_use_.try_emplace(fingerprint, at);
    if (!added && it->second < at) it->second = at;
  }
}

namespace {

absl::Status LastUseUnknown() {
  return absl::UnavailableError(
      "which keys were used is not known yet: this replica has not read the last uses from its "
      "database (is it unavailable?)");
}

}  // namespace

absl::StatusOr<std::map<std::string, absl::Time>> FleetView::LastUses(
    const std::vector<std::string>& fingerprints) const {
  std::lock_guard<std::mutex> lock(last_use_mu_);
  if (!last_uses_loaded_) return LastUseUnknown();
  std::map<std::string, absl::Time> out;
  for (const std::string& fingerprint : fingerprints) {
    if (auto it = last_use_.find(fingerprint); it != last_use_.end()) out.insert(*it);
  }
  return out;
}

absl::StatusOr<std::set<std::string>> FleetView::UsedSince(absl::Time since) const {
  std::lock_guard<std::mutex> lock(last_use_mu_);
  if (!last_uses_loaded_) return LastUseUnknown();
  std::set<std::string> out;
  for (const auto& [fingerprint, at] : last_use_) {
    if (at >= since) out.insert(fingerprint);
  }
  return out;
}

void FleetView::PutKeyLocked(KeyRecord k, std::set<std::string>* dirty) {
  auto existing = keys_.find(k.fingerprint);
  if (existing != keys_.end()) {
    DirtyHostsUsingLocked(existing->second.principal, existing->first, dirty);
    keys_by_principal_[existing->second.principal].erase(existing->first);
  }
  keys_by_principal_[k.principal].insert(k.fingerprint);
  DirtyHostsUsingLocked(k.principal, k.fingerprint, dirty);
  keys_[k.fingerprint] = std::move(k);
}

void FleetView::MatchGrantLocked(const GrantEntry& grant, std::set<std::string>* dirty) {
  const int64_t id = grant.record.id;
  for (auto& [hostname, host] : hosts_) {
    bool matches = SelectorMatches(grant.record.hosts, hostname, host.record.labels);
    bool had = host.grants.count(id) > 0;
    if (matches) host.grants.insert(id);
    if (!matches && had) host.grants.erase(id);
    if (matches || had) dirty->insert(hostname);
  }
}

void FleetView::MatchHostLocked(HostEntry& host) {
  host.grants.clear();
  for (const auto& [id, grant] : grants_) {
    if (SelectorMatches(grant.record.hosts, host.record.hostname, host.record.labels)) {
      host.grants.insert(id);
    }
  }
}

void FleetView::DirtyHostsUsingLocked(const std::string& principal, const std::string& fingerprint,
                                      std::set<std::string>* dirty) const {
  // A principal reaches hosts through grants naming it and through grants naming one of its
  // keys by fingerprint (disabling it must take those lines away too).
  static const std::set<std::string> kNone;
  auto owned = keys_by_principal_.find(principal);
  const std::set<std::string>& fingerprints =
      principal.empty() || owned == keys_by_principal_.end() ? kNone : owned->second;
  for (const auto& [hostname, host] : hosts_) {
    for (int64_t id : host.grants) {
      const GrantRecord& g = grants_.at(id).record;
      if ((!principal.empty() && g.principal == principal) ||
          (!fingerprint.empty() && g.key_fingerprint == fingerprint) ||
          (!g.key_fingerprint.empty() && fingerprints.count(g.key_fingerprint) != 0)) {
        dirty->insert(hostname);
        break;
      }
    }
  }
}

ManagedLinePtr FleetView::RenderLine(const GrantEntry& grant, const KeyRecord& key,
                                     absl::Time expiry) {
  absl::StatusOr<std::string> text = RenderManagedLine(grant.options, expiry, key);
  if (!text.ok()) {
    spdlog::error("grant {} key {} left out: {}", grant.record.id, key.fingerprint,
                  std::string(text.status().message()));
    return nullptr;
  }
  return MakeManagedLine(*std::move(text));
}

ManagedLinePtr FleetView::LineFor(const GrantEntry& grant, const KeyRecord& key,
                                  absl::Time expiry) const {
  const auto cache_key = std::make_pair(key.fingerprint, grant.record.id);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = line_cache_.find(cache_key);
    if (it != line_cache_.end() && it->second.expiry == expiry) return it->second.line;
  }
  ManagedLinePtr line = RenderLine(grant, key, expiry);
  if (!line) return nullptr;
  std::lock_guard<std::mutex> lock(cache_mu_);
  line_cache_[cache_key] = CachedLine{expiry, line};
  return line;
}

void FleetView::ForgetLinesOfKeyLocked(const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = line_cache_.lower_bound(std::make_pair(fingerprint, int64_t{INT64_MIN}));
  while (it != line_cache_.end() && it->first.first == fingerprint) it = line_cache_.erase(it);
}

void FleetView::ForgetLinesOfGrantLocked(int64_t id) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (auto it = line_cache_.begin(); it != line_cache_.end();) {
    it = it->first.second == id ? line_cache_.erase(it) : std::next(it);
  }
}

std::map<std::string, std::vector<AccessLine>> FleetView::ComputeAccessLocked(
    const std::set<int64_t>& grant_ids, absl::Time now, absl::Time* next_expiry,
    const ProposedChange* proposed) const {
  std::map<std::string, std::vector<AccessLine>> by_account;
  *next_expiry = absl::InfiniteFuture();
  std::map<int64_t, GrantEntry> proposed_grants;
  if (proposed != nullptr) {
    for (size_t i = 0; i < proposed->new_grants.size(); ++i) {
      const int64_t id = kProposedGrantId - static_cast<int64_t>(i);
      if (!grant_ids.count(id)) continue;
      absl::StatusOr<AuthorizedKeysOptions> options =
          ParseStoredGrantOptions(proposed->new_grants[i].options);
      GrantEntry entry{proposed->new_grants[i], options.ok() ? *options : AuthorizedKeysOptions()};
      entry.record.id = id;
      proposed_grants.emplace(id, std::move(entry));
    }
  }
  for (int64_t id : grant_ids) {
    const GrantEntry& grant = id < 0 ? proposed_grants.at(id) : grants_.at(id);
    const GrantRecord& g = grant.record;
    std::vector<AccessLine>& lines = by_account[g.account];  // listed even when empty
    if (g.expires_at && *g.expires_at <= now) continue;
    std::vector<const KeyRecord*> keys;
    if (!g.principal.empty()) {
      auto owner = principals_.find(g.principal);
      if (owner == principals_.end() || owner->second.disabled) continue;
      auto fps = keys_by_principal_.find(g.principal);
      if (fps != keys_by_principal_.end()) {
        for (const std::string& fp : fps->second) keys.push_back(&keys_.at(fp));
      }
      if (proposed != nullptr) {
        for (const KeyRecord& k : proposed->new_keys) {
          if (k.principal == g.principal) keys.push_back(&k);
        }
      }
    } else if (auto key = keys_.find(g.key_fingerprint); key != keys_.end()) {
      auto owner = principals_.find(key->second.principal);
      if (owner == principals_.end() || owner->second.disabled) continue;
      keys.push_back(&key->second);
    } else if (proposed != nullptr) {
      for (const KeyRecord& k : proposed->new_keys) {
        if (k.fingerprint == g.key_fingerprint) keys.push_back(&k);
      }
    }
    for (const KeyRecord* key : keys) {
      bool hypothetical = id < 0;
      if (proposed != nullptr && proposed->relabelled_key &&
          proposed->relabelled_key->fingerprint == key->fingerprint) {
        key = &*proposed->relabelled_key;
        hypothetical = true;
      }
      if (proposed != nullptr && !hypothetical) {
        for (const KeyRecord& k : proposed->new_keys) hypothetical |= &k == key;
      }
      if (key->state == KeyState::kRevoked) continue;
      absl::Time expiry = key->expires_at;
      if (g.expires_at) expiry = std::min(expiry, *g.expires_at);
      if (expiry <= now) continue;
      // What a proposed change renders is not cached: it may never be made.
      ManagedLinePtr line =
          hypothetical ? RenderLine(grant, *key, expiry) : LineFor(grant, *key, expiry);
      if (!line) continue;
      lines.push_back({g.account, key->fingerprint, key->principal, id, expiry, std::move(line)});
      *next_expiry = std::min(*next_expiry, expiry);
    }
  }
  for (auto& [account, lines] : by_account) {
    std::sort(lines.begin(), lines.end(), [](const AccessLine& a, const AccessLine& b) {
      return std::tie(a.fingerprint, a.grant_id) < std::tie(b.fingerprint, b.grant_id);
    });
    // Grants that render the very same line (the same key, options and expiry) write it once:
    // the file holds each line once, through the grant with the lowest id.
    std::set<absl::string_view> seen;
    lines.erase(
        std::remove_if(lines.begin(), lines.end(),
                       [&](const AccessLine& l) { return !seen.insert(l.line->text).second; }),
        lines.end());
  }
  return by_account;
}

absl::Status FleetView::CheckDelivery(const ProposedChange& change, absl::Time now) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  // Which existing grants the change reaches through its keys.
  std::set<std::string> principals;
  for (const KeyRecord& k : change.new_keys) principals.insert(k.principal);
  auto touches = [&](const std::set<int64_t>& ids) {
    for (int64_t id : ids) {
      if (id < 0) return true;
      const GrantRecord& g = grants_.at(id).record;
      if (principals.count(g.principal)) return true;
      if (change.relabelled_key && (g.principal == change.relabelled_key->principal ||
                                    g.key_fingerprint == change.relabelled_key->fingerprint)) {
        return true;
      }
    }
    return false;
  };
  std::string first_problem;
  size_t hosts_over = 0;
  std::map<std::set<int64_t>, std::string> memo;  // grant set -> problem ("" none)
  auto check = [&](const std::string& hostname, const Labels& labels, std::set<int64_t> ids,
                   bool relabelled) {
    for (size_t i = 0; i < change.new_grants.size(); ++i) {
      if (SelectorMatches(change.new_grants[i].hosts, hostname, labels)) {
        ids.insert(kProposedGrantId - static_cast<int64_t>(i));
      }
    }
    if (!relabelled && !touches(ids)) return;
    auto cached = memo.find(ids);
    if (cached == memo.end()) {
      absl::Time next_expiry;
      std::map<std::string, std::vector<AccessLine>> by_account =
          ComputeAccessLocked(ids, now, &next_expiry, &change);
      std::string problem;
      size_t wire = kDesiredStateWireOverheadBytes + hostname.size();
      for (const auto& [account, lines] : by_account) {
        size_t block = kManagedBlockMarkerBytes;
        for (const AccessLine& l : lines) block += l.line->text.size() + 1;
        wire += account.size() + kDesiredStateAccountOverheadBytes +
                (block - kManagedBlockMarkerBytes) + lines.size() * 2;
        if (!problem.empty()) continue;
        if (lines.size() > kMaxManagedKeysPerAccount) {
          problem = absl::StrCat("account \"", account, "\" would hold ", lines.size(),
                                 " managed keys; the limit is ", kMaxManagedKeysPerAccount,
                                 " per account");
        } else if (block > kMaxManagedBlockBytes) {
          problem =
              absl::StrCat("account \"", account, "\" would need ", block,
                           " bytes of authorized_keys; keyfleet's share of a file is at most ",
                           kMaxManagedBlockBytes, " bytes (of the ", kMaxAuthorizedKeysFileBytes,
                           "-byte file limit)");
        }
      }
      if (problem.empty() && wire > kMaxDesiredStateBytes) {
        problem = absl::StrCat("its desired state would be about ", wire, " bytes; the limit is ",
                               kMaxDesiredStateBytes, " bytes per host");
      }
      cached = memo.emplace(ids, std::move(problem)).first;
    }
    if (cached->second.empty()) return;
    if (++hosts_over == 1) first_problem = absl::StrCat("host ", hostname, ": ", cached->second);
  };
  // Only a new grant, new keys or a relabelled key reach other hosts (an enrollment or a host
  // label reaches that host alone: no walk over the fleet for each of 10,000 enrollments).
  if (!change.new_grants.empty() || !change.new_keys.empty() || change.relabelled_key) {
    for (const auto& [hostname, host] : hosts_) {
      if (change.relabelled_host && change.relabelled_host->hostname == hostname) continue;
      check(hostname, host.record.labels, host.grants, false);
    }
  }
  if (const std::optional<HostRecord>& h = change.relabelled_host) {
    std::set<int64_t> ids;
    for (const auto& [id, grant] : grants_) {
      if (SelectorMatches(grant.record.hosts, h->hostname, h->labels)) ids.insert(id);
    }
    check(h->hostname, h->labels, std::move(ids), true);
  }
  if (hosts_over == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refused: it could not be delivered. ", first_problem,
      hosts_over > 1 ? absl::StrCat(" (and ", hosts_over - 1, " more host(s))") : "",
      ". Nothing was changed: grant fewer keys to that account, narrow the host selector, or "
      "split the keys across accounts"));
}

bool FleetView::RecomputeLocked(HostEntry& host, absl::Time now, RecomputeMemo* memo) {
  auto cached = memo->find(host.grants);
  if (cached == memo->end()) {
    ComputedContent content;
    std::map<std::string, std::vector<AccessLine>> by_account =
        ComputeAccessLocked(host.grants, now, &content.next_expiry);
    HostDesiredState probe;
    probe.unmanaged = PolicyLocked().unmanaged_keys;
    probe.revocations = revocations_;
    for (auto& [account, lines] : by_account) {
      AccountDesiredState state{account, {}};
      state.lines.reserve(lines.size());
      for (AccessLine& line : lines) state.lines.push_back(std::move(line.line));
      probe.accounts.push_back(std::move(state));
    }
    content.digest = DesiredStateDigest(probe);
    content.accounts = std::move(probe.accounts);
    cached = memo->emplace(host.grants, std::move(content)).first;
  }
  const ComputedContent& content = cached->second;
  const bool changed = content.digest != host.desired.digest;
  host.desired.hostname = host.record.hostname;
  host.desired.epoch = epoch_;
  host.desired.unmanaged = PolicyLocked().unmanaged_keys;
  host.desired.accounts = content.accounts;
  host.desired.revocations = revocations_;
  host.desired.digest = content.digest;
  host.next_expiry = content.next_expiry;
  return changed;
}

uint64_t FleetView::sequence() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return sequence_;
}

std::string FleetView::epoch() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return epoch_;
}

std::optional<ApiCredentialRecord> FleetView::FindCredential(const std::string& id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = credentials_.find(id);
  if (it == credentials_.end()) return std::nullopt;
  return it->second;
}

std::vector<ApiCredentialRecord> FleetView::Credentials() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ApiCredentialRecord> out;
  out.reserve(credentials_.size());
  for (const auto& [id, c] : credentials_) out.push_back(c);
  return out;
}

PolicyRecord FleetView::policy() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return PolicyLocked();
}

std::vector<PrincipalRecord> FleetView::Principals() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<PrincipalRecord> out;
  for (const auto& [name, p] : principals_) out.push_back(p);
  return out;
}

std::optional<PrincipalRecord> FleetView::FindPrincipal(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = principals_.find(name);
  if (it == principals_.end()) return std::nullopt;
  return it->second;
}

std::optional<KeyRecord> FleetView::FindKey(const std::string& fingerprint) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = keys_.find(fingerprint);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

std::string FleetView::PredecessorOf(const std::string& fingerprint) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const auto& [fp, key] : keys_) {
    if (key.successor_fingerprint == fingerprint) return fp;
  }
  return "";
}

std::vector<KeyRecord> FleetView::Keys(const KeyFilter& filter, absl::Time now) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<KeyRecord> out;
  for (const auto& [fp, key] : keys_) {
    if (!filter.principal.empty() && key.principal != filter.principal) continue;
    const std::string state = EffectiveKeyState(key, now);
    if (filter.state && *filter.state != state) continue;
    if (filter.expiring_within && (state == "revoked" || state == "expired" ||
                                   key.expires_at > now + *filter.expiring_within)) {
      continue;
    }
    out.push_back(key);
  }
  return out;
}

std::vector<GrantRecord> FleetView::Grants() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<GrantRecord> out;
  for (const auto& [id, g] : grants_) out.push_back(g.record);
  return out;
}

std::optional<GrantRecord> FleetView::FindGrant(int64_t id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = grants_.find(id);
  if (it == grants_.end()) return std::nullopt;
  return it->second.record;
}

std::vector<HostRecord> FleetView::Hosts() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<HostRecord> out;
  for (const auto& [name, h] : hosts_) out.push_back(h.record);
  return out;
}

std::optional<HostRecord> FleetView::FindHost(const std::string& hostname) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::nullopt;
  return it->second.record;
}

std::optional<std::string> FleetView::EnrollmentIdOf(const std::string& hostname) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::nullopt;
  return it->second.record.enrollment_id;
}

std::vector<GrantRecord> FleetView::GrantsForHost(const std::string& hostname) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<GrantRecord> out;
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return out;
  for (int64_t id : it->second.grants) out.push_back(grants_.at(id).record);
  return out;
}

std::optional<HostDesiredState> FleetView::DesiredState(const std::string& hostname) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::nullopt;
  return it->second.desired;
}

std::optional<std::string> FleetView::DesiredDigest(const std::string& hostname) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::nullopt;
  return it->second.desired.digest;
}

size_t FleetView::host_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return hosts_.size();
}

std::optional<std::vector<AccessLine>> FleetView::Access(const std::string& hostname,
                                                         absl::Time now) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::nullopt;
  absl::Time next_expiry;
  std::vector<AccessLine> out;
  for (auto& [account, lines] : ComputeAccessLocked(it->second.grants, now, &next_expiry)) {
    for (AccessLine& line : lines) out.push_back(std::move(line));
  }
  return out;
}

ReachResult FleetView::Reach(const std::string& principal, const std::string& fingerprint,
                             absl::Time now, size_t limit,
                             const std::function<bool(const Labels&)>& visible) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  // The grants that can carry the key(s): those of its owner and those of the key itself.
  std::string owner = principal;
  if (!fingerprint.empty()) {
    auto key = keys_.find(fingerprint);
    owner = key == keys_.end() ? "" : key->second.principal;
  }
  std::set<int64_t> relevant;
  for (const auto& [id, grant] : grants_) {
    const GrantRecord& g = grant.record;
    if (!g.principal.empty()) {
      if (!owner.empty() && g.principal == owner) relevant.insert(id);
    } else if (fingerprint.empty() ? (keys_.count(g.key_fingerprint) &&
                                      keys_.at(g.key_fingerprint).principal == owner)
                                   : g.key_fingerprint == fingerprint) {
      relevant.insert(id);
    }
  }
  ReachResult out;
  if (relevant.empty()) return out;
  // Hosts matched by the same grants reach the same lines: each distinct set is computed once.
  std::map<std::set<int64_t>, std::vector<AccessLine>> memo;
  for (const auto& [hostname, host] : hosts_) {
    std::set<int64_t> ids;
    std::set_intersection(host.grants.begin(), host.grants.end(), relevant.begin(), relevant.end(),
                          std::inserter(ids, ids.end()));
    if (ids.empty() || !visible(host.record.labels)) continue;
    auto [it, fresh] = memo.try_emplace(ids);
    if (fresh) {
      absl::Time next_expiry;
      for (auto& [account, lines] : ComputeAccessLocked(ids, now, &next_expiry)) {
        for (AccessLine& l : lines) {
          if (fingerprint.empty() ? l.principal == owner : l.fingerprint == fingerprint) {
            it->second.push_back(std::move(l));
          }
        }
      }
    }
    if (it->second.empty()) continue;
    ++out.hosts;
    std::string last_account;
    for (const AccessLine& l : it->second) {
      if (l.account != last_account) ++out.accounts;
      last_account = l.account;
      ++out.total;
      if (out.lines.size() < limit) out.lines.push_back({hostname, l});
    }
  }
  return out;
}

std::optional<RolloutTargets> FleetView::Rollout(uint64_t change) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (rollouts_.empty()) return std::nullopt;
  if (change == 0) {
    // The latest change that reached some host (a token or a policy dry run reaches none);
    // the latest of all when none did.
    for (auto it = rollouts_.rbegin(); it != rollouts_.rend(); ++it) {
      if (!it->hosts->empty()) return RolloutTargets{it->change, *it->hosts};
    }
    return RolloutTargets{rollouts_.back().change, *rollouts_.back().hosts};
  }
  auto it = std::lower_bound(rollouts_.begin(), rollouts_.end(), change,
                             [](const RolloutRecord& r, uint64_t c) { return r.change < c; });
  if (it == rollouts_.end() || it->change != change) return std::nullopt;
  return RolloutTargets{it->change, *it->hosts};
}

}  // namespace keyfleet::controller
