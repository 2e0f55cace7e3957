// Applying one desired state to this host's accounts, once. A problem with one account is
// reported and never stops the others.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "keyfleet/v1/agent.pb.h"
#include "node-agent/accounts.h"
#include "node-agent/drift.h"

namespace keyfleet::agent {

struct ApplySettings {
  std::string root = "/";  // treated as "/": accounts from ROOT/etc/passwd, homes inside ROOT
  AccountPolicy accounts;
  // Unlink leftovers of interrupted writes in each .ssh (a directory scan per account). They
  // only appear when an agent died mid-write, so a long-running agent sweeps once at start and
  // on each recheck rather than on every apply.
  bool sweep_stale_temps = true;
  // The state comes from the agent's cache, not from the controller in this run. A file whose
  // block was written from another epoch is then left alone (the cached state may be the older
  // history); a state the controller sends now replaces it.
  bool state_from_cache = false;
  // Where managed keys go (key_files.h): the home files, the root-owned central files under
  // ROOT/etc/ssh/keyfleet/authorized_keys, or both. Central only: each home file's managed
  // block is removed (the user's own lines stay), so switching never leaves old keys behind;
  // home only: every central file is removed.
  v1::KeyFilesMode key_files = v1::KEY_FILES_MODE_HOME;
  // The keys index (keys_index_file.h) under ROOT, for `authorized-keys-command --fingerprint`;
  // "" keeps none. Written only while the directory's parent exists.
  std::string keys_index_dir;
};

// kNoAccount: the host has no such account, so there is nothing to write (and nothing that sshd
// could let in); kRefused and kFailed leave the account not as desired.
// kSkipped: no keys wanted for an account the agent never writes (none on this host, or refused
// by local policy): nothing looked at, nothing reported.
enum class AccountOutcome { kWritten, kUnchanged, kNoAccount, kSkipped, kRefused, kFailed };
const char* AccountOutcomeName(AccountOutcome outcome);

struct AccountApplied {
  std::string account;
  AccountOutcome outcome = AccountOutcome::kUnchanged;
  std::string detail;
};

// True when the account is not as desired after the apply (refused or failed).
inline bool NotApplied(const AccountApplied& a) {
  return a.outcome == AccountOutcome::kRefused || a.outcome == AccountOutcome::kFailed;
}

// Sessions ended of one key (sshd_activity.h).
struct SessionsEndedCount {
  std::string fingerprint;  // "SHA256:…"
  uint32_t count = 0;
};

struct ApplyReport {
  uint64_t generation = 0;
  std::string epoch;   // of the desired state applied
  std::string digest;  // of the desired state applied
  std::vector<AccountApplied> accounts;
  std::vector<Drift> drift;
  int writes = 0;
  // The key lines each account's files hold after the apply (observed_keys.h); accounts that
  // do not exist or whose files could not be read are absent.
  std::vector<v1::ObservedAccount> observed;
  // Why the host's KRL does not hold the state's revocations (reconciler.h); empty when it does.
  std::string revocations_error;
  // Sessions this apply ended because their key was revoked with kill_sessions.
  std::vector<SessionsEndedCount> sessions_ended;
  // Where the managed keys were written (the agent's key_files setting).
  v1::KeyFilesMode key_files = v1::KEY_FILES_MODE_HOME;
};

// The lines the agent last wrote, per account (from its cache): lets a damaged managed block be
// repaired without touching the user's own lines.
using PreviousLines = std::map<std::string, std::set<std::string>>;
PreviousLines PreviousLinesOf(const v1::DesiredState& applied);

// Resolves each account in `desired`, checks every line with the strict authorized_keys parser
// (a bad line refuses the account: nothing half-written), and reconciles its authorized_keys
// through SafeAccountFs and MergeAuthorizedKeys. Writes only when content, owner or mode differ.
// A damaged block is repaired when `previous` knows the account's lines, else left untouched.
ApplyReport ApplyDesiredState(const v1::DesiredState& desired, const ApplySettings& settings,
                              const PasswdFile& passwd, const PreviousLines* previous = nullptr);

// The report as JSON: {"generation", "writes", "accounts": [{account, outcome, detail}],
// "drift": [DriftItem in the protobuf JSON mapping]}.
std::string ApplyReportToJson(const ApplyReport& report);

}  // namespace keyfleet::agent
