#include "controller/tests/fake_store.h"

#include <algorithm>
#include <set>

#include "common/status_macros.h"
#include "controller/enrollment_rules.h"
#include "controller/record_json.h"
#include "controller/store/inventory_errors.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {

uint64_t FakeStore::CommitLocked(const MutationContext& ctx, const MutationLog& log) {
  for (const AuditEntry& entry : log.audit) {
    audit_.push_back(
        ChainAuditEvent(audit_.size() + 1, ctx, entry, audit_.empty() ? "" : audit_.back().hash));
  }
  for (const EntityChange& c : log.changes) {
    changes_.push_back({changes_.size() + 1, c.entity, c.key, c.after_json});
  }
  const uint64_t change = log.changes.empty() ? 0 : changes_.size();
  // Unlike PostgresStore, a repeated id is not refused here (the service edge replays it
  // before any handler runs); only the first outcome is kept.
  if (!ctx.request.id.empty() && !request_outcomes_.count(ctx.request.id)) {
    RequestOutcome o;
    o.request_id = ctx.request.id;
    o.actor = ctx.actor;
    o.method = ctx.request.method;
    o.digest = ctx.request.digest;
    o.change = change;
    o.created_at = ctx.at;
    request_outcomes_[ctx.request.id] = std::move(o);
  }
  return change;
}

absl::StatusOr<Snapshot> FakeStore::LoadSnapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot s;
  s.sequence = changes_.size();
  s.epoch = epoch_;
  for (const auto& [k, v] : principals_) s.principals.push_back(v);
  for (const auto& [k, v] : keys_) s.keys.push_back(v);
  for (const auto& [k, v] : grants_) s.grants.push_back(v);
  for (const auto& [k, v] : hosts_) s.hosts.push_back(v);
  for (const auto& [k, v] : credentials_) s.credentials.push_back(v);
  for (const auto& [k, v] : revoked_) s.revoked_fingerprints.push_back({k, v.ends_sessions});
  s.last_uses = LastKeyUsesLocked();
  s.policy = policy_;
  return s;
}

absl::StatusOr<std::vector<Change>> FakeStore::ChangesSince(uint64_t after, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Change> out;
  for (uint64_t i = after; i < changes_.size() && out.size() < limit; ++i) {
    out.push_back(changes_[i]);
  }
  return out;
}

absl::StatusOr<uint64_t> FakeStore::AddPrincipal(const MutationContext& ctx,
                                                 const PrincipalRecord& principal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (principals_.count(principal.name)) return PrincipalExistsError(principal.name);
  principals_[principal.name] = principal;
  MutationLog log;
  log.Record("principal.add", EntityKind::kPrincipal, principal.name, "",
             PrincipalToJson(principal));
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::DisablePrincipal(const MutationContext& ctx,
                                                     const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(name);
  if (it == principals_.end()) return PrincipalNotFoundError(name);
  if (it->second.disabled) return PrincipalAlreadyDisabledError(name);
  std::string before = PrincipalToJson(it->second);
  it->second.disabled = true;
  MutationLog log;
  log.Record("principal.disable", EntityKind::kPrincipal, name, before,
             PrincipalToJson(it->second));
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::AddKeys(const MutationContext& ctx,
                                            const std::vector<KeyRecord>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const KeyRecord& key : keys) {
    auto p = principals_.find(key.principal);
    if (p == principals_.end()) return PrincipalNotFoundError(key.principal);
    if (p->second.disabled) return PrincipalDisabledError(key.principal);
    if (auto r = revoked_.find(key.fingerprint); r != revoked_.end()) {
      return KeyRevokedError(key.fingerprint, r->second.reason, r->second.revoked_at);
    }
    if (auto k = keys_.find(key.fingerprint); k != keys_.end()) {
      return KeyOwnedError(key.fingerprint, k->second.principal, key.principal);
    }
  }
  MutationLog log;
  for (const KeyRecord& key : keys) {
    keys_[key.fingerprint] = key;
    if (!IsKeyBatch(keys))
      log.Record("key.add", EntityKind::kKey, key.fingerprint, "", KeyToJson(key));
  }
  if (IsKeyBatch(keys)) log = KeyBatchLog(keys);
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::LabelKey(const MutationContext& ctx,
                                             const std::string& fingerprint,
                                             const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(fingerprint);
  if (it == keys_.end()) return KeyNotFoundError(fingerprint);
  MutationLog log;
  if (it->second.label == label) return CommitLocked(ctx, log);
  std::string before = KeyToJson(it->second);
  it->second.label = label;
  log.Record("key.label", EntityKind::kKey, fingerprint, before, KeyToJson(it->second));
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::RemoveKey(const MutationContext& ctx,
                                              const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(fingerprint);
  if (it == keys_.end()) return KeyNotFoundError(fingerprint);
  MutationLog log;
  log.Record("key.remove", EntityKind::kKey, fingerprint, KeyToJson(it->second), "");
  keys_.erase(it);
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::RotateKey(const MutationContext& ctx,
                                              const KeyRotation& rotation,
                                              std::vector<GrantRecord>* carried) {
  std::lock_guard<std::mutex> lock(mu_);
  carried->clear();
  auto old = keys_.find(rotation.old_fingerprint);
  if (old == keys_.end()) return KeyNotFoundError(rotation.old_fingerprint);
  KF_RETURN_IF_ERROR(CheckRotatable(old->second));
  const KeyRecord& next = rotation.successor;
  auto owner = principals_.find(next.principal);
  if (owner == principals_.end()) return PrincipalNotFoundError(next.principal);
  if (owner->second.disabled) return PrincipalDisabledError(next.principal);
  if (auto r = revoked_.find(next.fingerprint); r != revoked_.end()) {
    return KeyRevokedError(next.fingerprint, r->second.reason, r->second.revoked_at);
  }
  if (auto k = keys_.find(next.fingerprint); k != keys_.end()) {
    return KeyOwnedError(next.fingerprint, k->second.principal, next.principal);
  }
  MutationLog log;
  keys_[next.fingerprint] = next;
  log.Record("key.add", EntityKind::kKey, next.fingerprint, "", KeyToJson(next));
  const std::string before = KeyToJson(old->second);
  old->second.state = KeyState::kSuperseded;
  old->second.successor_fingerprint = next.fingerprint;
  old->second.expires_at = std::min(old->second.expires_at, rotation.old_expires_at);
  log.Record("key.rotate", EntityKind::kKey, old->first, before, KeyToJson(old->second));
  std::vector<GrantRecord> copies;
  for (const auto& [id, g] : grants_) {
    if (g.key_fingerprint == rotation.old_fingerprint) copies.push_back(g);
  }
  for (GrantRecord& g : copies) {
    g.key_fingerprint = next.fingerprint;
    g.created_at = ctx.at;
    g.id = next_grant_id_++;
    grants_[g.id] = g;
    log.Record("grant.add", EntityKind::kGrant, std::to_string(g.id), "", GrantToJson(g));
    carried->push_back(g);
  }
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::RevokeKey(const MutationContext& ctx,
                                              const std::string& fingerprint,
                                              const std::string& reason, bool ends_sessions) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(fingerprint);
  if (it == keys_.end()) return KeyNotFoundError(fingerprint);
  if (it->second.state == KeyState::kRevoked) {
    return KeyAlreadyRevokedError(fingerprint, *it->second.revoked_at);
  }
  std::string before = KeyToJson(it->second);
  it->second.state = KeyState::kRevoked;
  it->second.revocation_reason = reason;
  it->second.revoked_at = ctx.at;
  it->second.revocation_ends_sessions = ends_sessions;
  revoked_[fingerprint] = {fingerprint, reason, ctx.at, ctx.actor, ends_sessions};
  MutationLog log;
  log.Record("key.revoke", EntityKind::kKey, fingerprint, before, KeyToJson(it->second));
  return CommitLocked(ctx, log);
}

absl::StatusOr<std::pair<uint64_t, GrantRecord>> FakeStore::AddGrant(const MutationContext& ctx,
                                                                     const GrantRecord& grant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!grant.principal.empty() && !principals_.count(grant.principal)) {
    return PrincipalNotFoundError(grant.principal);
  }
  if (grant.principal.empty() && !keys_.count(grant.key_fingerprint)) {
    return KeyNotFoundError(grant.key_fingerprint);
  }
  GrantRecord stored = grant;
  stored.id = next_grant_id_++;
  grants_[stored.id] = stored;
  MutationLog log;
  log.Record("grant.add", EntityKind::kGrant, std::to_string(stored.id), "", GrantToJson(stored));
  return std::make_pair(CommitLocked(ctx, log), stored);
}

absl::StatusOr<uint64_t> FakeStore::RemoveGrant(const MutationContext& ctx, int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = grants_.find(id);
  if (it == grants_.end()) return GrantNotFoundError(id);
  MutationLog log;
  log.Record("grant.remove", EntityKind::kGrant, std::to_string(id), GrantToJson(it->second), "");
  grants_.erase(it);
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::SetPolicy(const MutationContext& ctx,
                                              const PolicyRecord& policy,
                                              const std::vector<KeyLifeChange>& shorten) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string before = policy_ ? PolicyToJson(*policy_) : "";
  std::string after = PolicyToJson(policy);
  MutationLog log;
  if (before != after) {
    policy_ = policy;
    log.Record("policy.set", EntityKind::kPolicy, "policy", before, after);
  }
  for (const KeyLifeChange& change : shorten) {
    auto key = keys_.find(change.fingerprint);
    if (key == keys_.end()) return KeyNotFoundError(change.fingerprint);
    if (key->second.state == KeyState::kRevoked || key->second.expires_at <= change.expires_after) {
      continue;
    }
    KeyRecord shortened = key->second;
    shortened.expires_at = change.expires_after;
    log.Record("key.shorten", EntityKind::kKey, key->first, KeyToJson(key->second),
               KeyToJson(shortened));
    key->second = shortened;
  }
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::RegisterHost(const MutationContext& ctx,
                                                 const std::string& hostname,
                                                 const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  MutationLog log;
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) {
    HostRecord h;
    h.hostname = hostname;
    h.labels = labels;
    h.first_seen = h.last_seen = ctx.at;
    hosts_[hostname] = h;
    log.Record("host.register", EntityKind::kHost, hostname, "", HostToJson(h));
  } else if (it->second.labels != labels) {
    std::string before = HostToJson(it->second);
    it->second.labels = labels;
    it->second.last_seen = std::max(it->second.last_seen, ctx.at);
    log.Record("host.relabel", EntityKind::kHost, hostname, before, HostToJson(it->second));
  } else {
    it->second.last_seen = std::max(it->second.last_seen, ctx.at);
  }
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::SetHostLabels(const MutationContext& ctx,
                                                  const std::string& hostname,
                                                  const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return HostNotFoundError(hostname);
  MutationLog log;
  if (it->second.labels == labels) return CommitLocked(ctx, log);
  std::string before = HostToJson(it->second);
  it->second.labels = labels;
  log.Record("host.label", EntityKind::kHost, hostname, before, HostToJson(it->second));
  return CommitLocked(ctx, log);
}

absl::StatusOr<uint64_t> FakeStore::RemoveHost(const MutationContext& ctx,
                                               const std::string& hostname) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return HostNotFoundError(hostname);
  MutationLog log;
  log.Record("host.remove", EntityKind::kHost, hostname, HostToJson(it->second), "");
  hosts_.erase(it);
  return CommitLocked(ctx, log);
}

absl::Status FakeStore::CreateJoinToken(const MutationContext& ctx, const JoinTokenRecord& token) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[token.id] = token;
  MutationLog log;
  log.AuditOnly("host.token.create", token.id, "", JoinTokenToJson(token));
  CommitLocked(ctx, log);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JoinTokenRecord>> FakeStore::ListJoinTokens() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<JoinTokenRecord> out;
  for (const auto& [id, token] : tokens_) out.push_back(token);
  return out;
}

absl::StatusOr<std::vector<JoinTokenRecord>> FakeStore::ListJoinTokensAfter(absl::Time created_at,
                                                                            const std::string& id,
                                                                            size_t limit) {
  // As PostgreSQL keeps times: to the microsecond.
  auto order = [](absl::Time at, const std::string& token_id) {
    return std::make_pair(absl::ToUnixMicros(at), token_id);
  };
  std::vector<JoinTokenRecord> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [token_id, token] : tokens_) {
      if (created_at == absl::InfinitePast() ||
          order(created_at, id) < order(token.created_at, token_id)) {
        out.push_back(token);
      }
    }
  }
  std::sort(out.begin(), out.end(), [&](const JoinTokenRecord& a, const JoinTokenRecord& b) {
    return order(a.created_at, a.id) < order(b.created_at, b.id);
  });
  if (out.size() > limit) out.erase(out.begin() + static_cast<ptrdiff_t>(limit), out.end());
  return out;
}

absl::StatusOr<std::optional<JoinTokenRecord>> FakeStore::GetJoinToken(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end()) return std::optional<JoinTokenRecord>();
  return std::optional<JoinTokenRecord>(it->second);
}

absl::Status FakeStore::RevokeJoinToken(const MutationContext& ctx, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end()) return JoinTokenNotFoundError(id);
  if (it->second.revoked_at) {
    return absl::FailedPreconditionError(absl::StrCat("join token ", id, " is already revoked"));
  }
  std::string before = JoinTokenToJson(it->second);
  it->second.revoked_at = ctx.at;
  MutationLog log;
  log.AuditOnly("host.token.revoke", id, before, JoinTokenToJson(it->second));
  CommitLocked(ctx, log);
  return absl::OkStatus();
}

absl::Status FakeStore::CreateApiCredential(const MutationContext& ctx,
                                            const ApiCredentialRecord& credential) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, c] : credentials_) {
    if (c.name == credential.name && !c.revoked_at) {
      return CredentialNameTakenError(credential.name);
    }
  }
  credentials_[credential.id] = credential;
  CommitLocked(ctx, CredentialCreatedLog(credential));
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeStore::CreateApiCredentialOnce(const MutationContext& ctx,
                                                        const ApiCredentialRecord& credential) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, c] : credentials_) {
    if (c.name == credential.name) return false;
  }
  credentials_[credential.id] = credential;
  CommitLocked(ctx, CredentialCreatedLog(credential));
  return true;
}

absl::StatusOr<std::vector<ApiCredentialRecord>> FakeStore::ListApiCredentials() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ApiCredentialRecord> out;
  for (const auto& [id, c] : credentials_) out.push_back(c);
  return out;
}

absl::StatusOr<std::optional<ApiCredentialRecord>> FakeStore::GetApiCredential(
    const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = credentials_.find(id);
  if (it == credentials_.end()) return std::optional<ApiCredentialRecord>();
  return std::optional<ApiCredentialRecord>(it->second);
}

absl::StatusOr<ApiCredentialRecord> FakeStore::RevokeApiCredential(const MutationContext& ctx,
                                                                   const std::string& name_or_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ApiCredentialRecord* found = nullptr;
  for (auto& [id, c] : credentials_) {
    if (c.name == name_or_id && !c.revoked_at) found = &c;
  }
  if (found == nullptr) {
    auto it = credentials_.find(name_or_id);
    if (it == credentials_.end()) return CredentialNotFoundError(name_or_id);
    found = &it->second;
  }
  if (found->revoked_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("credential ", found->id, " (\"", found->name, "\") is already revoked"));
  }
  const ApiCredentialRecord before = *found;
  found->revoked_at = ctx.at;
  CommitLocked(ctx, CredentialRevokedLog(before, *found));
  return *found;
}

absl::Status FakeStore::TouchApiCredential(const std::string& id, absl::Time at) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = credentials_.find(id);
  if (it != credentials_.end() && (!it->second.last_used_at || *it->second.last_used_at < at)) {
    it->second.last_used_at = at;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<RequestOutcome>> FakeStore::FindRequestOutcome(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = request_outcomes_.find(id);
  if (it == request_outcomes_.end()) return std::optional<RequestOutcome>();
  return std::optional<RequestOutcome>(it->second);
}

absl::Status FakeStore::RecordRequestResponse(const std::string& id, const std::string& response,
                                              bool secret_withheld) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = request_outcomes_.find(id);
  if (it != request_outcomes_.end() && !it->second.response) {
    it->second.response = response;
    it->second.secret_withheld = secret_withheld;
  }
  return absl::OkStatus();
}

absl::StatusOr<EnrollmentResult> FakeStore::EnrollHost(const MutationContext& ctx,
                                                       const EnrollmentRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  auto t = tokens_.find(request.token_id);
  if (t == tokens_.end()) return UnknownJoinTokenError();
  JoinTokenRecord& token = t->second;
  KF_RETURN_IF_ERROR(CheckJoinToken(token, request.secret_hash, ctx.at));
  const std::string lookup = token.hostname.empty() ? request.hostname : token.hostname;
  std::optional<HostRecord> existing;
  if (auto h = hosts_.find(lookup); h != hosts_.end()) existing = h->second;
  KF_ASSIGN_OR_RETURN(std::string hostname, EnrollmentHostname(token, request.hostname, existing));
  const HostRecord host = EnrolledHost(token, hostname, existing, request, ctx.at);
  hosts_[hostname] = host;
  ++token.uses;
  MutationLog log;
  log.Record(existing ? "host.reenroll" : "host.enroll", EntityKind::kHost, hostname,
             existing ? HostToJson(*existing) : "", HostToJson(host));
  EnrollmentResult result;
  result.change = CommitLocked(ctx, log);
  result.host = host;
  return result;
}

absl::Status FakeStore::RecordSecurityEvents(const std::vector<SecurityEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const SecurityEvent& e : events) {
    MutationLog log;
    log.AuditOnly(e.action, e.target, "", e.detail_json);
    CommitLocked({e.actor, e.at}, log);
    if (e.certificate_expires) {
      if (auto h = hosts_.find(e.hostname); h != hosts_.end()) {
        h->second.certificate_expires = e.certificate_expires;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FakeStore::RecordHostReports(const std::vector<HostReport>& reports) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const HostReport& r : reports) {
    auto it = hosts_.find(r.hostname);
    if (it != hosts_.end() && !r.sessions_ended.empty()) {
      nlohmann::json keys = nlohmann::json::array();
      for (const SessionsEndedCount& e : r.sessions_ended) {
        SessionsEndedRecord& ended = sessions_ended_[{e.fingerprint, r.hostname}];
        ended.fingerprint = e.fingerprint;
        ended.hostname = r.hostname;
        ended.count += e.count;
        ended.last_at = std::max(ended.last_at, r.at);
        keys.push_back({{"fingerprint", e.fingerprint}, {"count", e.count}});
      }
      MutationLog log;
      log.AuditOnly("host.sessions.end", r.hostname, "",
                    nlohmann::json{{"sessions_ended", std::move(keys)}}.dump());
      CommitLocked({"host:" + r.hostname, r.at}, log);
    }
    if (it == hosts_.end() || it->second.applied_generation > r.applied_generation) continue;
    HostRecord& h = it->second;
    h.last_seen = std::max(h.last_seen, r.at);
    h.applied_generation = r.applied_generation;
    h.applied_digest = r.applied_digest;
    h.drift_json = r.drift_json;
    h.failed_accounts_json = r.failed_accounts_json;
    h.host_key_fingerprints = r.host_key_fingerprints;
    h.host_public_keys = r.host_public_keys;
    h.revocations_error = r.revocations_error;
    h.key_files = r.key_files;
    if (!r.observed_json.empty()) observed_[r.hostname] = r.observed_json;
  }
  return absl::OkStatus();
}

absl::Status FakeStore::RecordKeyUses(const std::vector<KeyUseRecord>& uses) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const KeyUseRecord& u : uses) {
    auto [it, added] = key_uses_.try_emplace({u.fingerprint, u.hostname, u.account}, u);
    if (!added && it->second.last_used < u.last_used) it->second = u;
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyUsage> FakeStore::KeyUsageOf(const std::string& fingerprint, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  KeyUsage usage;
  for (const auto& [key, use] : key_uses_) {
    if (use.fingerprint == fingerprint) usage.uses.push_back(use);
  }
  std::sort(usage.uses.begin(), usage.uses.end(), [](const KeyUseRecord& a, const KeyUseRecord& b) {
    return std::tie(b.last_used, a.hostname, a.account) <
           std::tie(a.last_used, b.hostname, b.account);
  });
  if (usage.uses.size() > limit) usage.uses.resize(limit);
  for (const auto& [key, ended] : sessions_ended_) {
    if (ended.fingerprint == fingerprint && usage.sessions_ended.size() < limit) {
      usage.sessions_ended.push_back(ended);
    }
  }
  return usage;
}

absl::StatusOr<std::map<std::string, absl::Time>> FakeStore::AllLastKeyUses() {
  std::lock_guard<std::mutex> lock(mu_);
  return LastKeyUsesLocked();
}

std::map<std::string, absl::Time> FakeStore::LastKeyUsesLocked() const {
  std::map<std::string, absl::Time> last;
  for (const auto& [key, use] : key_uses_) {
    auto [it, added] = last.try_emplace(use.fingerprint, use.last_used);
    if (!added) it->second = std::max(it->second, use.last_used);
  }
  return last;
}

absl::StatusOr<std::string> FakeStore::HostObservedJson(const std::string& hostname) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!hosts_.count(hostname)) return HostNotFoundError(hostname);
  auto it = observed_.find(hostname);
  return it == observed_.end() ? std::string() : it->second;
}

absl::Status FakeStore::TouchHosts(const std::vector<std::string>& hostnames, absl::Time at) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& h : hostnames) {
    auto it = hosts_.find(h);
    if (it != hosts_.end()) it->second.last_seen = std::max(it->second.last_seen, at);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostRecord>> FakeStore::ListHosts() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<HostRecord> out;
  for (const auto& [k, v] : hosts_) out.push_back(v);
  return out;
}

absl::StatusOr<std::vector<HostRecord>> FakeStore::FindHostsWithoutDrift(
    const std::vector<std::string>& hostnames) {
  std::set<std::string> wanted(hostnames.begin(), hostnames.end());
  std::vector<HostRecord> out;
  for (const std::string& name : wanted) {
    KF_ASSIGN_OR_RETURN(std::optional<HostRecord> host, FindHost(name));
    if (!host) continue;
    host->drift_json = "[]";
    out.push_back(*std::move(host));
  }
  return out;
}

absl::StatusOr<std::optional<HostRecord>> FakeStore::FindHost(const std::string& hostname) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(hostname);
  if (it == hosts_.end()) return std::optional<HostRecord>();
  return std::optional<HostRecord>(it->second);
}

absl::StatusOr<std::vector<HostRecord>> FakeStore::ListHostsAfter(const std::string& after,
                                                                  size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<HostRecord> out;
  for (auto it = hosts_.upper_bound(after); it != hosts_.end() && out.size() < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<std::vector<AuditEvent>> FakeStore::ListAudit(uint64_t after, absl::Time since,
                                                             size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AuditEvent> out;
  for (const AuditEvent& e : audit_) {
    if (e.sequence > after && e.at >= since && out.size() < limit) out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<AuditEvent>> FakeStore::ListAuditNewest(uint64_t before,
                                                                   absl::Time since, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AuditEvent> out;
  for (auto e = audit_.rbegin(); e != audit_.rend() && out.size() < limit; ++e) {
    if ((before == 0 || e->sequence < before) && e->at >= since) out.push_back(*e);
  }
  return out;
}

absl::Status FakeStore::VisitAuditLog(const AuditLogVisitor& visitor) {
  std::lock_guard<std::mutex> lock(mu_);
  if (visitor.start) visitor.start();
  if (!visitor.event) return absl::OkStatus();
  for (const AuditEvent& e : audit_) KF_RETURN_IF_ERROR(visitor.event(e));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditCheckpoint>> FakeStore::CheckpointsCovering(uint64_t, uint64_t) {
  return std::vector<AuditCheckpoint>();
}

}  // namespace keyfleet::controller
