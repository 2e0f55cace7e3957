#include "controller/view_follower.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

constexpr size_t kChangesPerRead = 1000;

}  // namespace

ViewFollower::ViewFollower(Store& store, FleetView& view, const Clock& clock)
    : store_(store), view_(view), clock_(clock) {}

void ViewFollower::SetListener(HostsChanged listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void ViewFollower::SetChangeObserver(ChangesApplied observer) {
  std::lock_guard<std::mutex> lock(mu_);
  change_observer_ = std::move(observer);
}

absl::Status ViewFollower::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

absl::Status ViewFollower::LoadLocked() {
  KF_ASSIGN_OR_RETURN(Snapshot snapshot, store_.LoadSnapshot());
  KF_RETURN_IF_ERROR(view_.Reset(snapshot, clock_.Now()));
  spdlog::info("fleet view loaded at change {}: {} principals, {} keys, {} grants, {} hosts",
               snapshot.sequence, snapshot.principals.size(), snapshot.keys.size(),
               snapshot.grants.size(), snapshot.hosts.size());
  if (listener_) {
    std::vector<std::string> all;
    for (const HostRecord& h : snapshot.hosts) all.push_back(h.hostname);
    listener_(all);
  }
  return absl::OkStatus();
}

absl::Status ViewFollower::CatchUp() {
  std::lock_guard<std::mutex> lock(mu_);
  for (;;) {
    KF_ASSIGN_OR_RETURN(std::vector<Change> changes,
                        store_.ChangesSince(view_.sequence(), kChangesPerRead));
    std::vector<std::string> changed;
    absl::Status applied = view_.ApplyBatch(changes, clock_.Now(), &changed);
    if (change_observer_ && applied.ok() && !changes.empty()) change_observer_(changes);
    // The changes before a bad one are in the view: their hosts are told either way.
    if (listener_ && !changed.empty()) listener_(changed);
    if (!applied.ok()) {
      return absl::DataLossError(absl::StrCat("cannot apply the change after ", view_.sequence(),
                                              ": ", applied.message()));
    }
    if (changes.size() < kChangesPerRead) return absl::OkStatus();
  }
}

absl::Status ViewFollower::FollowEpoch(const std::string& epoch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string before = view_.epoch();
    if (epoch != before) {
      spdlog::warn(
          "the database's epoch is {} now, not {} (a standby was promoted, the database was "
          "restored, or `keyfleet-controller new-epoch` ran): loading the fleet view again; "
          "every host gets its desired state in the new epoch",
          epoch, before);
      return LoadLocked();
    }
  }
  return CatchUp();
}

absl::Status ViewFollower::CatchUpTo(uint64_t sequence) {
  if (view_.sequence() >= sequence) return absl::OkStatus();
  KF_RETURN_IF_ERROR(CatchUp());
  if (view_.sequence() < sequence) {
    return absl::InternalError(
        absl::StrCat("change ", sequence, " committed but not visible in the change feed"));
  }
  return absl::OkStatus();
}

void ViewFollower::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> changed = view_.Tick(clock_.Now());
  if (!changed.empty()) {
    spdlog::info("expiry: desired state changed on {} host(s)", changed.size());
    if (listener_) listener_(changed);
  }
}

}  // namespace keyfleet::controller
