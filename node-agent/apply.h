// Applying one desired state to this host's accounts, once. A problem with one account is
// reported and never stops the others.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keyfleet/v1/agent.pb.h"
#include "node-agent/accounts.h"
#include "node-agent/drift.h"

namespace keyfleet::agent {

struct ApplySettings {
  std::string root = "/";  // treated as "/": accounts from ROOT/etc/passwd, homes inside ROOT
  AccountPolicy accounts;
};

enum class AccountOutcome { kWritten, kUnchanged, kRefused, kFailed };
const char* AccountOutcomeName(AccountOutcome outcome);

struct AccountApplied {
  std::string account;
  AccountOutcome outcome = AccountOutcome::kUnchanged;
  std::string detail;
};

struct ApplyReport {
  uint64_t generation = 0;
  std::vector<AccountApplied> accounts;
  std::vector<Drift> drift;
  int writes = 0;
};

// Resolves each account in `desired`, checks every line with the strict authorized_keys parser
// (a bad line refuses the account: nothing half-written), and reconciles its authorized_keys
// through SafeAccountFs and MergeAuthorizedKeys. Writes only when content, owner or mode differ.
ApplyReport ApplyDesiredState(const v1::DesiredState& desired, const ApplySettings& settings,
                              const PasswdFile& passwd);

// The report as JSON: {"generation", "writes", "accounts": [{account, outcome, detail}],
// "drift": [DriftItem in the protobuf JSON mapping]}.
std::string ApplyReportToJson(const ApplyReport& report);

}  // namespace keyfleet::agent
