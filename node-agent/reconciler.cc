#include "node-agent/reconciler.h"

#include <set>

#include "node-agent/cache.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {

ApplyReport Reconciler::ApplyLocked(const v1::DesiredState& state, bool sweep, bool from_cache) {
  const std::string passwd_path = UnderRoot(settings_.apply.root, "/etc/passwd");
  absl::StatusOr<PasswdFile> passwd = PasswdFile::Load(passwd_path);
  if (!passwd.ok()) {
    ApplyReport report;
    report.generation = state.generation();
    report.epoch = state.epoch();
    report.digest = state.digest();
    report.accounts.push_back(
        {"", AccountOutcome::kFailed, std::string(passwd.status().message())});
    UpdateRevocationsLocked(state, &report);
    if (observer_) observer_(report);
    return report;
  }
  ApplySettings settings = settings_.apply;
  settings.sweep_stale_temps = sweep || !swept_;
  settings.state_from_cache = from_cache;
  swept_ = true;
  ApplyReport report;
  if (!applied_) {
    report = ApplyDesiredState(state, settings, *passwd);
  } else {
    const PreviousLines previous = PreviousLinesOf(*applied_);
    report = ApplyDesiredState(state, settings, *passwd, &previous);
  }
  std::set<std::string> without_keys;
  for (const v1::AccountKeys& a : state.accounts()) {
    if (a.keys_size() == 0) without_keys.insert(a.account());
  }
  UpdateRevocationsLocked(state, &report);
  for (const AccountApplied& a : report.accounts) {
    const bool done =
        a.outcome == AccountOutcome::kWritten || a.outcome == AccountOutcome::kUnchanged;
    if (done && without_keys.count(a.account)) {
      emptied_.insert(a.account);
    } else {
      emptied_.erase(a.account);
    }
  }
  if (observer_) observer_(report);
  return report;
}

void Reconciler::UpdateRevocationsLocked(const v1::DesiredState& state, ApplyReport* report) {
  std::vector<std::string> end_sessions;
  report->revocations_error = revocations_.Update(state, fetch_, &end_sessions);
  if (!report->revocations_error.empty()) {
    spdlog::error("the KRL is not up to date: {}", report->revocations_error);
  }
  if (!end_sessions.empty() && end_sessions_) report->sessions_ended = end_sessions_(end_sessions);
}

absl::StatusOr<std::optional<ApplyReport>> Reconciler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  revocations_.Start().IgnoreError();  // logged; the agent goes on
  absl::StatusOr<std::optional<v1::DesiredState>> cached = cache_.Load();
  if (!cached.ok()) {
    // A damaged or untrusted cache must not keep the agent from the controller (it would get
    // no revocations at all): the files stay exactly as they are, and the first state the
    // controller sends is applied (and saved, over an invalid slot; never through an
    // untrusted one).
    spdlog::error(
        "the cache is unusable ({}); enforcing nothing from it: the files stay as they are "
        "until the controller sends a desired state",
        cached.status().ToString());
    return std::optional<ApplyReport>();
  }
  applied_ = *cached;
  applied_from_cache_ = true;
  if (!applied_) return std::optional<ApplyReport>();
  spdlog::info("enforcing the cached desired state, {}",
               DescribeVersion({applied_->epoch(), applied_->generation()}));
  return std::optional<ApplyReport>(ApplyLocked(*applied_, /*sweep=*/true, /*from_cache=*/true));
}

std::optional<ApplyReport> Reconciler::Offer(const v1::DesiredState& offered) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!IsValidEpoch(offered.epoch())) {
    spdlog::error("ignoring a desired state with a malformed epoch (want {} lower-case hex digits)",
                  kEpochLength);
    return std::nullopt;
  }
  if (applied_ && offered.epoch() != applied_->epoch()) {
    // Another history (a restored or rebuilt database): its numbers say nothing about ours,
    // and the controller's current state is what the fleet must hold.
    spdlog::warn("the controller's database has a new epoch: applying its {}, after {}",
                 DescribeVersion({offered.epoch(), offered.generation()}),
                 DescribeVersion({applied_->epoch(), applied_->generation()}));
  } else if (applied_) {
    if (offered.generation() < applied_->generation()) {
      spdlog::warn("ignoring desired state generation {}: older than applied {}",
                   offered.generation(), applied_->generation());
      return std::nullopt;
    }
    if (offered.generation() == applied_->generation() && offered.digest() == applied_->digest()) {
      return std::nullopt;
    }
  }
  v1::DesiredState state = offered;
  // An account we managed that is no longer listed has no managed keys now: its block must go.
  // It is carried (as "no managed keys") until an apply has emptied its file, whatever fails
  // meanwhile; an account the agent never writes (missing, refused) stays carried, silently,
  // so a block left there is emptied if the account comes back.
  if (applied_) {
    std::set<std::string> listed;
    for (const auto& a : state.accounts()) listed.insert(a.account());
    for (const auto& a : applied_->accounts()) {
      if (listed.count(a.account())) continue;
      if (a.keys_size() == 0 && emptied_.count(a.account())) continue;
      v1::AccountKeys* emptied = state.add_accounts();
      emptied->set_account(a.account());
      emptied->set_unmanaged(a.unmanaged());
      emptied->set_exclusive(a.exclusive());
    }
  }
  // Cache first: a crash between the two must leave a cache at least as new as the files, or a
  // restart without the controller would enforce the older state (and put back a revoked key).
  absl::Status saved = cache_.Save(state);
  if (!saved.ok()) spdlog::error("cannot save the cache: {}", saved.ToString());
  ApplyReport report = ApplyLocked(state, /*sweep=*/false, /*from_cache=*/false);
  applied_ = std::move(state);
  applied_from_cache_ = false;
  return report;
}

std::optional<ApplyReport> Reconciler::Recheck() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!applied_) return std::nullopt;
  return ApplyLocked(*applied_, /*sweep=*/true, applied_from_cache_);
}

std::optional<v1::DesiredState> Reconciler::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

}  // namespace keyfleet::agent
