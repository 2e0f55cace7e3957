// What the agent does with desired states, without the network: starts from its cache,
// accepts only states at least as new as what it applied, treats accounts that disappear from
// the state as "no managed keys", applies, caches, and re-applies on a timer to catch local
// edits; after each apply, brings the KRL for sshd's RevokedKeys to the state's revocations.
// Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "node-agent/apply.h"
#include "node-agent/cache.h"
#include "node-agent/managed_block.h"
#include "node-agent/revocation_keeper.h"

namespace keyfleet::agent {

struct ReconcilerSettings {
  ApplySettings apply;
  std::string cache_path;
  // The OpenSSH KRL kept for sshd's RevokedKeys, under apply.root (revocation_file.h); "" keeps
  // none.
  std::string revoked_keys_file;
};

class Reconciler {
 public:
  explicit Reconciler(ReconcilerSettings settings)
      : settings_(std::move(settings)),
        cache_(settings_.cache_path),
        revocations_(settings_.revoked_keys_file.empty()
                         ? std::string()
                         : UnderRoot(settings_.apply.root, settings_.revoked_keys_file)) {}

  // Loads the cache (if any) and applies it, so the host is enforced before any network. An
  // unusable cache (damaged, untrusted) is logged and skipped: nothing is applied until the
  // controller sends a state; never an error that would keep the agent from connecting.
  absl::StatusOr<std::optional<ApplyReport>> Start();
  // A state from the controller. Ignored (nullopt) when its generation is older than the one
  // applied from the same epoch, when it is the same generation and digest, or when its epoch
  // is malformed. A state of another epoch (a restored or rebuilt database) is applied whatever
  // its generation. Otherwise applied and cached.
  std::optional<ApplyReport> Offer(const v1::DesiredState& state);
  // Re-applies the cached state (repairs local edits); nullopt when there is none.
  std::optional<ApplyReport> Recheck();

  std::optional<v1::DesiredState> applied() const;

  // Called after every apply (from Start, Offer or Recheck, on their thread, under the
  // reconciler's lock: it must be quick). Set before Start.
  using ApplyObserver = std::function<void(const ApplyReport& report)>;
  void SetApplyObserver(ApplyObserver observer) { observer_ = std::move(observer); }
  // How the KRL gets the controller's whole list when a state's recent revocations do not
  // complete it (revocation_keeper.h). Set before Start.
  void SetRevocationFetcher(RevocationFetcher fetch) { fetch_ = std::move(fetch); }
  // Ends the live sessions of keys (raw digests) newly revoked with kill_sessions; what it
  // ended goes into the apply's report. Unset: none are ended. Set before Start.
  using SessionEnder =
      std::function<std::vector<SessionsEndedCount>(const std::vector<std::string>& digests)>;
  void SetSessionEnder(SessionEnder ender) { end_sessions_ = std::move(ender); }

 private:
  // Applies `state`, repairing damaged blocks from what was applied before (applied_). Stale
  // temp files are swept when `sweep`, and on the first apply of this process.
  ApplyReport ApplyLocked(const v1::DesiredState& state, bool sweep, bool from_cache);

  ReconcilerSettings settings_;
  mutable std::mutex mu_;
  DesiredStateCache cache_;
  std::optional<v1::DesiredState> applied_;
  bool applied_from_cache_ = false;  // applied_ was loaded at start, not sent in this run
  bool swept_ = false;
  // Accounts whose last apply wrote (or found) a file without managed keys: a dropped account is
  // carried until it is here.
  std::set<std::string> emptied_;
  ApplyObserver observer_;
  // Brings the KRL to `state` and ends the sessions it says to, into `report`.
  void UpdateRevocationsLocked(const v1::DesiredState& state, ApplyReport* report);

  RevocationKeeper revocations_;
  RevocationFetcher fetch_;
  SessionEnder end_sessions_;
};

}  // namespace keyfleet::agent
