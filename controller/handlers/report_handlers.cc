#include "controller/handlers/report_handlers.h"

#include <algorithm>
#include <map>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/key_policy.h"
#include "common/ssh_public_key.h"
#include "common/status_macros.h"
#include "controller/handlers/keyset_read.h"
#include "controller/host_selector.h"
#include "controller/inventory_validation.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

constexpr size_t kAuditPage = 10000;

absl::Status HostNotFound(const std::string& hostname) {
  return absl::NotFoundError(
      absl::StrCat("no host named \"", hostname, "\" has connected (see `keyfleet host list`)"));
}

}  // namespace

namespace {

std::vector<AccountFailureRecord> AccountFailuresOf(const HostRecord& host) {
  std::vector<AccountFailureRecord> out;
  if (host.failed_accounts_json.empty()) return out;
  nlohmann::json parsed = nlohmann::json::parse(host.failed_accounts_json, nullptr, false);
  if (!parsed.is_array()) return {{"", "the host's failure report cannot be read"}};
  for (const nlohmann::json& f : parsed) {
    if (!f.is_object() || !f.contains("account") || !f["account"].is_string() ||
        !f.contains("reason") || !f["reason"].is_string()) {
      out.push_back({"", "the host's failure report cannot be read"});
      continue;
    }
    out.push_back({f["account"].get<std::string>(), f["reason"].get<std::string>()});
  }
  return out;
}

}  // namespace

std::vector<AccountFailureRecord> FailuresOf(const HostRecord& host) {
  std::vector<AccountFailureRecord> out = AccountFailuresOf(host);
  if (!host.revocations_error.empty()) {
    out.push_back({"", absl::StrCat("the host's KRL (sshd's RevokedKeys) does not hold the "
                                    "fleet's revocations: ",
                                    host.revocations_error)});
  }
  return out;
}

HostStatus ReportHandlers::StatusOf(HostRecord host) const {
  HostStatus status;
  std::optional<HostDesiredState> desired = ctx_.view.DesiredState(host.hostname);
  status.failed_accounts = FailuresOf(host);
  if (desired) {
    status.desired_generation = desired->generation;
    status.desired_digest = desired->digest;
    status.converged = host.applied_digest == desired->digest && status.failed_accounts.empty();
  }
  status.host = std::move(host);
  return status;
}

absl::StatusOr<std::vector<HostStatus>> ReportHandlers::ListHosts() const {
  KF_ASSIGN_OR_RETURN(std::vector<HostRecord> hosts, ctx_.store.ListHosts());
  std::vector<HostStatus> out;
  out.reserve(hosts.size());
  for (HostRecord& h : hosts) out.push_back(StatusOf(std::move(h)));
  return out;
}

absl::StatusOr<std::vector<HostStatus>> ReportHandlers::ListHostsAfter(
    const std::string& after, size_t limit,
    const std::function<bool(const HostRecord&)>& visible) const {
  KF_ASSIGN_OR_RETURN(
      std::vector<HostRecord> hosts,
      ReadKeptRows<HostRecord>(
          after, limit,
          [this](const std::string& from, size_t n) { return ctx_.store.ListHostsAfter(from, n); },
          [](const HostRecord& h) { return h.hostname; }, visible));
  std::vector<HostStatus> out;
  out.reserve(hosts.size());
  for (HostRecord& h : hosts) out.push_back(StatusOf(std::move(h)));
  return out;
}

absl::StatusOr<HostStatus> ReportHandlers::GetHost(const std::string& hostname) const {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  KF_ASSIGN_OR_RETURN(std::optional<HostRecord> host, ctx_.store.FindHost(hostname));
  if (!host) return HostNotFound(hostname);
  return StatusOf(*std::move(host));
}

absl::StatusOr<AccessReviewResult> ReportHandlers::AccessReview(const std::string& hostname,
                                                                const std::string& account) const {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  if (!account.empty()) KF_RETURN_IF_ERROR(ValidateAccountName(account, /*allow_root=*/true));
  const absl::Time now = ctx_.Now();
  AccessInputs inputs;
  std::optional<std::vector<AccessLine>> lines = ctx_.view.Access(hostname, now);
  if (!lines) return HostNotFound(hostname);
  inputs.desired = *std::move(lines);
  KF_ASSIGN_OR_RETURN(HostStatus status, GetHost(hostname));
  KF_ASSIGN_OR_RETURN(std::string observed, ctx_.store.HostObservedJson(hostname));
  if (!observed.empty()) {
    KF_ASSIGN_OR_RETURN(inputs.observed, ObservedFromJson(observed));
  }
  inputs.problems = ProblemsFromDriftJson(status.host.drift_json);
  for (const AccountFailureRecord& f : status.failed_accounts) {
    inputs.problems.push_back({f.account, "FAILED", f.reason});
  }
  inputs.converged = status.converged;
  inputs.desired_generation = status.desired_generation;
  inputs.applied_generation = status.host.applied_generation;
  inputs.key_files = status.host.key_files;
  AccessReviewResult result;
  result.answer = ComputeAccess(inputs, account, now);
  for (const AccessVerdict& v : result.answer.entries) {
    if (v.fingerprint.empty() || result.keys.count(v.fingerprint)) continue;
    if (std::optional<KeyRecord> key = ctx_.view.FindKey(v.fingerprint)) {
      result.keys.emplace(v.fingerprint, *std::move(key));
    }
  }
  return result;
}

absl::StatusOr<VerifyAccessResult> ReportHandlers::VerifyAccess(
    const std::string& hostname, const std::string& account, const std::string& fingerprint,
    const std::string& from_address) const {
  if (account.empty()) return absl::InvalidArgumentError("give the account to log in as");
  if (fingerprint.empty()) {
    return absl::InvalidArgumentError(
        "give the key (a public key file or its SHA256: fingerprint)");
  }
  KF_ASSIGN_OR_RETURN(AccessReviewResult access, AccessReview(hostname, account));
  KF_ASSIGN_OR_RETURN(VerifyResult verdict,
                      VerifyKeyAccess(access.answer, account, fingerprint, from_address));
  VerifyAccessResult result;
  result.verdict = std::move(verdict);
  result.key_files = access.answer.key_files;
  if (auto key = access.keys.find(fingerprint); key != access.keys.end()) {
    result.keys.insert(*key);
  } else if (std::optional<KeyRecord> known = ctx_.view.FindKey(fingerprint)) {
    result.keys.emplace(fingerprint, *std::move(known));
  }
  return result;
}

absl::StatusOr<ComplianceReport> ReportHandlers::Compliance(
    std::optional<absl::Duration> stale_after) const {
  const absl::Time now = ctx_.Now();
  const PolicyRecord policy = ctx_.view.policy();
  ComplianceReport report;
  report.stale_after = stale_after.value_or(kDefaultStaleAfter);
  if (report.stale_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stale-after must be positive (a window such as 90d)");
  }
  const absl::Time used_since = now - report.stale_after;
  KF_ASSIGN_OR_RETURN(const std::set<std::string> used, ctx_.view.UsedSince(used_since));
  for (KeyRecord& key : ctx_.view.Keys(KeyFilter{}, now)) {
    if (key.state == KeyState::kRevoked) continue;
    if (FleetView::EffectiveKeyState(key, now) == "active" && key.created_at <= used_since &&
        !used.count(key.fingerprint)) {
      report.stale.push_back(key);
    }
    const bool weak = [&] {
      absl::StatusOr<PublicKey> parsed = ParsePublicKey(key.public_key);
      return !parsed.ok() || !CheckKeyAgainstPolicy(*parsed, policy.key_policy).ok();
    }();
    if (weak) report.weak_type.push_back(key);
    std::optional<PrincipalRecord> owner = ctx_.view.FindPrincipal(key.principal);
    const RotationRule rule = policy.RuleFor(owner ? owner->kind : PrincipalKind::kPerson);
    if (key.expires_at <= now || key.created_at + rule.max_key_age <= now) {
      report.expired_or_overdue.push_back(std::move(key));
    } else if (key.expires_at <= now + rule.warning_window) {
      report.expiring_soon.push_back(std::move(key));
    }
  }
  std::vector<std::string> stale_fingerprints;
  for (const KeyRecord& key : report.stale) stale_fingerprints.push_back(key.fingerprint);
  KF_ASSIGN_OR_RETURN(report.last_used, ctx_.view.LastUses(stale_fingerprints));
  auto last_use = [&](const KeyRecord& key) {
    auto it = report.last_used.find(key.fingerprint);
    return it == report.last_used.end() ? absl::InfinitePast() : it->second;
  };
  std::stable_sort(
      report.stale.begin(), report.stale.end(),
      [&](const KeyRecord& a, const KeyRecord& b) { return last_use(a) < last_use(b); });
  KF_ASSIGN_OR_RETURN(std::vector<HostStatus> hosts, ListHosts());
  for (HostStatus& h : hosts) {
    const bool stale = h.host.last_seen + ctx_.settings.host_stale_after < now;
    if (!h.converged) report.not_converged.push_back(h);
    if (stale) report.not_seen.push_back(std::move(h));
  }
  return report;
}

absl::StatusOr<FleetStatus> ReportHandlers::Fleet(
    size_t list_limit, const std::function<bool(const HostRecord&)>& visible,
    const std::function<bool()>& cancelled, size_t batch) const {
  const absl::Time now = ctx_.Now();
  FleetStatus fleet;
  fleet.stale_after = ctx_.settings.host_stale_after;
  // Copies what it lists: the page's records stay whole for the cursor.
  auto list = [&](std::vector<HostStatus>& into, const HostStatus& h) {
    if (into.size() >= list_limit) {
      fleet.lists_truncated = true;
      return;
    }
    into.push_back(h);
    into.back().host.drift_json = "[]";
  };
  std::string after;
  for (;;) {
    if (cancelled && cancelled()) return absl::CancelledError("the caller went away");
    KF_ASSIGN_OR_RETURN(std::vector<HostStatus> page, ListHostsAfter(after, batch, visible));
    for (const HostStatus& h : page) {
      ++fleet.hosts;
      std::set<std::string> kinds;
      nlohmann::json drift = nlohmann::json::parse(h.host.drift_json, nullptr, false);
      if (drift.is_array()) {
        for (const nlohmann::json& item : drift) {
          if (!item.is_object() || !item.contains("kind") || !item["kind"].is_string()) continue;
          const std::string kind = item["kind"].get<std::string>();
          // The last item of a report that had more than fit says how many were left out.
          uint32_t n = 1;
          if (item.contains("leftOut") && item["leftOut"].is_number_unsigned()) {
            n = item["leftOut"].get<uint32_t>();
          }
          fleet.drift[kind].items += n;
          if (kinds.insert(kind).second) ++fleet.drift[kind].hosts;
        }
      }
      // As Rollout counts it: no replica marked it seen within the connected window.
      if (h.host.last_seen + ctx_.settings.connected_window < now) {
        ++fleet.offline;
        if (h.host.last_seen + ctx_.settings.host_stale_after < now) ++fleet.not_seen;
        list(fleet.offline_hosts, h);
      } else if (!h.failed_accounts.empty()) {
        ++fleet.failed;
        list(fleet.failed_hosts, h);
      } else if (h.converged) {
        ++fleet.converged;
      } else {
        ++fleet.pending;
        list(fleet.pending_hosts, h);
      }
    }
    if (page.size() < batch) break;
    after = page.back().host.hostname;
  }
  return fleet;
}

absl::StatusOr<KeyReach> ReportHandlers::Reach(
    const std::string& principal, const std::string& fingerprint, size_t limit,
    const std::function<bool(const Labels&)>& visible) const {
  if (fingerprint.empty() == principal.empty()) {
    return absl::InvalidArgumentError("give either a key's fingerprint or a principal");
  }
  if (!fingerprint.empty()) {
    if (!ctx_.view.FindKey(fingerprint)) {
      return absl::NotFoundError(absl::StrCat("no key ", fingerprint, " in the inventory"));
    }
  } else {
    KF_RETURN_IF_ERROR(ValidatePrincipalName(principal));
    if (!ctx_.view.FindPrincipal(principal)) {
      return absl::NotFoundError(absl::StrCat("no principal \"", principal, "\""));
    }
  }
  KeyReach out;
  out.reach = ctx_.view.Reach(principal, fingerprint, ctx_.Now(), limit, visible);
  std::set<std::string> hosts;
  for (const ReachLine& l : out.reach.lines) {
    hosts.insert(l.hostname);
    if (out.grant_options.count(l.line.grant_id)) continue;
    std::optional<GrantRecord> grant = ctx_.view.FindGrant(l.line.grant_id);
    out.grant_options[l.line.grant_id] = grant ? grant->options : "";
  }
  KF_ASSIGN_OR_RETURN(std::vector<HostRecord> records,
                      ctx_.store.FindHostsWithoutDrift({hosts.begin(), hosts.end()}));
  for (HostRecord& h : records) {
    std::string name = h.hostname;
    if (StatusOf(std::move(h)).converged) out.applied.insert(std::move(name));
  }
  return out;
}

RotationReport ReportHandlers::Rotation() const {
  const absl::Time now = ctx_.Now();
  RotationReport report;
  report.policy = ctx_.view.policy();
  const PolicyRecord& policy = report.policy;
  report.cycle_start = now - policy.max_key_age;
  report.overall.principal = "";
  std::map<std::string, OwnerRotation> owners;
  for (const KeyRecord& key : ctx_.view.Keys(KeyFilter{}, now)) {
    if (key.state == KeyState::kRevoked || key.state == KeyState::kSuperseded) continue;
    // A disabled principal's keys log in nowhere: nothing to rotate.
    std::optional<PrincipalRecord> principal = ctx_.view.FindPrincipal(key.principal);
    if (!principal || principal->disabled) continue;
    OwnerRotation& owner = owners[key.principal];
    owner.principal = key.principal;
    // Each kind's own cycle: a 90-day service key rotated 100 days ago is not "this cycle".
    const RotationRule rule = policy.RuleFor(principal->kind);
    const absl::Time end = std::min(key.expires_at, key.created_at + rule.max_key_age);
    for (OwnerRotation* o : {&owner, &report.overall}) {
      ++o->keys;
      if (end <= now) {
        ++o->overdue;
        o->overdue_fingerprints.push_back(key.fingerprint);
      } else if (end <= now + rule.warning_window) {
        ++o->due;
        o->due_fingerprints.push_back(key.fingerprint);
      } else if (key.created_at >= now - rule.max_key_age) {
        ++o->rotated;
      }
    }
  }
  for (auto& [name, o] : owners) report.owners.push_back(std::move(o));
  return report;
}

absl::StatusOr<std::vector<AuditEvent>> ReportHandlers::ListAudit(absl::Time since) const {
  std::vector<AuditEvent> all;
  uint64_t after = 0;
  for (;;) {
    KF_ASSIGN_OR_RETURN(std::vector<AuditEvent> page,
                        ctx_.store.ListAudit(after, since, kAuditPage));
    if (page.empty()) return all;
    after = page.back().sequence;
    const bool last = page.size() < kAuditPage;
    all.insert(all.end(), std::make_move_iterator(page.begin()),
               std::make_move_iterator(page.end()));
    if (last) return all;
  }
}

namespace {

// How often a long verification asks whether its caller is still waiting.
constexpr uint64_t kCancelCheckEvery = 1000;

absl::StatusOr<AuditVerification> StreamAuditLog(Store& store,
                                                 const std::vector<const AuditVerifier*>& trusted,
                                                 uint64_t signed_head,
                                                 const std::function<bool()>& cancelled) {
  uint64_t seen = 0;
  // A caller that gave up (a million signed events take minutes) stops the read.
  auto still_wanted = [&]() -> absl::Status {
    if (++seen % kCancelCheckEvery != 0 || !cancelled || !cancelled()) return absl::OkStatus();
    return absl::CancelledError("the caller stopped waiting; the audit log was not verified");
  };
  AuditLogVisitor visitor;
  if (trusted.empty()) {
    std::optional<AuditChainVerifier> chain;
    visitor.start = [&] { chain.emplace(); };
    visitor.event = [&](const AuditEvent& e) {
      chain->Add(e);
      return still_wanted();
    };
    KF_RETURN_IF_ERROR(store.VisitAuditLog(visitor));
    return chain->result();
  }
  std::optional<AuditLogVerifier> log;
  visitor.start = [&] { log.emplace(trusted, signed_head); };
  visitor.checkpoint = [&](const AuditCheckpoint& cp) {
    log->AddCheckpoint(cp);
    return still_wanted();
  };
  visitor.event = [&](const AuditEvent& e) {
    log->AddEvent(e);
    return still_wanted();
  };
  KF_RETURN_IF_ERROR(store.VisitAuditLog(visitor));
  return log->Finish();
}

}  // namespace

absl::StatusOr<AuditVerification> VerifyStoredAuditLog(
    Store& store, const std::vector<const AuditVerifier*>& trusted, uint64_t signed_head,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<AuditVerification> result = StreamAuditLog(store, trusted, signed_head, cancelled);
  // The verifier's entries (tens of MB for a million events) were many small blocks that glibc
  // would otherwise keep for this process.
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  return result;
}

absl::StatusOr<AuditVerification> ReportHandlers::VerifyAudit(
    const std::function<bool()>& cancelled) const {
  // The head is read before the snapshot is taken: every event it counts is in the snapshot,
  // however many are appended while the log is read.
  const uint64_t signed_head = trust_.signed_head ? trust_.signed_head() : 0;
  return VerifyStoredAuditLog(ctx_.store, trust_.keys, signed_head, cancelled);
}

absl::StatusOr<std::vector<ExportedAuditEvent>> ReportHandlers::ExportAudit(uint64_t after,
                                                                            absl::Time since,
                                                                            size_t limit) const {
  KF_ASSIGN_OR_RETURN(std::vector<AuditEvent> events, ctx_.store.ListAudit(after, since, limit));
  std::vector<ExportedAuditEvent> out;
  if (events.empty()) return out;
  KF_ASSIGN_OR_RETURN(
      std::vector<AuditCheckpoint> checkpoints,
      ctx_.store.CheckpointsCovering(events.front().sequence, events.back().sequence));
  std::map<uint64_t, std::shared_ptr<const AuditCheckpoint>> covering;
  for (AuditCheckpoint& cp : checkpoints) {
    auto shared = std::make_shared<const AuditCheckpoint>(std::move(cp));
    for (const auto& [sequence, hash] : shared->events) {
      if (sequence >= events.front().sequence && sequence <= events.back().sequence) {
        covering.emplace(sequence, shared);
      }
    }
  }
  out.reserve(events.size());
  for (AuditEvent& e : events) {
    ExportedAuditEvent x;
    auto it = covering.find(e.sequence);
    if (it != covering.end()) x.checkpoint = it->second;
    x.event = std::move(e);
    out.push_back(std::move(x));
  }
  return out;
}

absl::StatusOr<RolloutStatus> ReportHandlers::Rollout(
    uint64_t change, const std::function<bool(const std::string&)>& visible) const {
  std::optional<RolloutTargets> targets = ctx_.view.Rollout(change);
  if (!targets) {
    if (change > ctx_.view.sequence()) {
      return absl::NotFoundError(absl::StrCat(
          "change ", change, " has not happened yet (latest: ", ctx_.view.sequence(), ")"));
    }
    return absl::NotFoundError(
        absl::StrCat(change == 0 ? std::string("no change") : absl::StrCat("change ", change),
                     " is not in this controller's rollout history (it keeps the last ",
                     kRolloutHistory, " changes since it started)"));
  }
  if (visible) {
    targets->hosts.erase(std::remove_if(targets->hosts.begin(), targets->hosts.end(),
                                        [&](const std::string& h) { return !visible(h); }),
                         targets->hosts.end());
  }
  // Only the targets, without their drift: the dashboard asks this every second.
  KF_ASSIGN_OR_RETURN(std::vector<HostRecord> hosts,
                      ctx_.store.FindHostsWithoutDrift(targets->hosts));
  std::map<std::string, const HostRecord*> by_name;
  for (const HostRecord& h : hosts) by_name[h.hostname] = &h;
  RolloutStatus status;
  status.change = targets->change;
  status.targeted = static_cast<uint32_t>(targets->hosts.size());
  for (const std::string& hostname : targets->hosts) {
    auto it = by_name.find(hostname);
    std::optional<std::string> desired_digest = ctx_.view.DesiredDigest(hostname);
    const bool converged =
        it != by_name.end() && (it->second->applied_generation >= targets->change ||
                                (desired_digest && it->second->applied_digest == *desired_digest));
    const absl::Time now = ctx_.Now();
    std::vector<AccountFailureRecord> failures;
    if (converged) failures = FailuresOf(*it->second);
    if (converged && !failures.empty()) {
      status.failed.emplace_back(hostname, std::move(failures));
    } else if (converged) {
      ++status.converged;
    } else if (it != by_name.end() &&
               it->second->last_seen + ctx_.settings.connected_window >= now) {
      status.pending.push_back(hostname);
    } else {
      status.offline.push_back(hostname);
    }
  }
  std::sort(status.pending.begin(), status.pending.end());
  std::sort(status.offline.begin(), status.offline.end());
  return status;
}

}  // namespace keyfleet::controller
