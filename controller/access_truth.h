// What sshd on one host will do for each (account, key): the desired state joined with what the
// host's agent last reported finding in the accounts' key files and about the accounts. The
// answer of `keyfleet access` and `keyfleet verify`; pure, so every case is a table row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/desired_state.h"

namespace keyfleet::controller {

// One key line the agent found (v1::ObservedKeyLine).
struct ObservedLineRecord {
  std::string fingerprint;
  bool managed = false;
  std::string options;  // as the agent rendered them ("" none)
  std::optional<absl::Time> expires_at;
  std::string comment;
  std::string file = "authorized_keys";
  std::string key_type;
};

struct ObservedAccountRecord {
  std::string account;
  std::vector<ObservedLineRecord> lines;
  uint32_t lines_left_out = 0;
};

// The stored form of a report's observed accounts (HostReport::observed_json), both ways.
// Strings are cut and stripped of control characters on the way in: they come from agents.
std::string ObservedToJson(const std::vector<ObservedAccountRecord>& accounts);
// DATA_LOSS for a malformed record.
absl::StatusOr<std::vector<ObservedAccountRecord>> ObservedFromJson(const std::string& json);

// One problem the host reported about an account (a drift item or a failed write).
struct AccountProblem {
  std::string account;
  std::string kind;  // DriftKind name, e.g. "DRIFT_KIND_NO_SUCH_ACCOUNT", or "FAILED"
  std::string detail;
};
// The drift items of a host's last report (HostRecord::drift_json); malformed items are skipped.
std::vector<AccountProblem> ProblemsFromDriftJson(const std::string& drift_json);

struct AccessInputs {
  std::vector<AccessLine> desired;  // what the view wants on the host now
  // What the host reported finding; nullopt when it never reported its files.
  std::optional<std::vector<ObservedAccountRecord>> observed;
  std::vector<AccountProblem> problems;  // drift and failed accounts of the last report
  bool converged = false;                // applied digest == desired digest, nothing failed
  uint64_t desired_generation = 0;
  uint64_t applied_generation = 0;
  KeyFilesMode key_files = KeyFilesMode::kHome;  // where the host's agent writes (last report)
};

enum class AccessState { kActive, kPendingAdd, kPendingRemoval, kUnmanaged, kUnreported };
const char* AccessStateName(AccessState state);

struct AccessVerdict {
  std::string account;
  std::string fingerprint;
  AccessState state = AccessState::kActive;
  bool logs_in = false;  // sshd accepts the key now (from the addresses its options allow)
  bool known = true;     // false: the host's facts leave it open (logs_in is a guess)
  std::string why;
  std::optional<absl::Time> expires_at;  // the one sshd enforces
  std::string options;
  std::string file = "authorized_keys";
  std::string comment;
  std::string key_type;
  int64_t grant_id = 0;  // the grant that wants the line; 0: none
  std::string desired_line;
};

struct AccountAccessFacts {
  std::string account;
  bool sshd_refuses = false;  // no key logs in: no such account, or StrictModes
  bool unknown = false;       // the agent could not read the files: access there is unknown
  bool observed = false;      // the host reported this account's files
  std::vector<std::string> facts;
  uint32_t lines_left_out = 0;
};

struct AccessAnswer {
  std::vector<AccessVerdict> entries;  // by account, then fingerprint
  std::vector<AccountAccessFacts> accounts;
  bool files_reported = false;
  bool change_pending = false;
  uint64_t desired_generation = 0;
  uint64_t applied_generation = 0;
  KeyFilesMode key_files = KeyFilesMode::kHome;  // as the inputs give it
};

// `account` empty: every account.
AccessAnswer ComputeAccess(const AccessInputs& inputs, const std::string& account, absl::Time now);

struct VerifyResult {
  bool allowed = false;
  bool determined = true;  // false: the host's reports cannot settle it (see reason)
  std::string reason;
  std::vector<AccessVerdict> lines;  // every line of that key in that account
  AccountAccessFacts account;
};

// Would `fingerprint` log in as `account` now (from `from_address`, an IP address, when given)?
// `answer` is ComputeAccess for that account. INVALID_ARGUMENT for a bad address.
absl::StatusOr<VerifyResult> VerifyKeyAccess(const AccessAnswer& answer, const std::string& account,
                                             const std::string& fingerprint,
                                             const std::string& from_address);

}  // namespace keyfleet::controller
