// A host's desired authorized_keys content as the fleet view computes it, and how one managed
// line is put together.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/authorized_keys_options.h"
#include "common/revocation_limits.h"
#include "controller/model.h"

namespace keyfleet::controller {

// One managed authorized_keys line. Immutable and shared: every host a grant reaches holds a
// pointer to the same line, so 10,000 hosts with the same keys cost one copy of each line.
struct ManagedLine {
  std::string text;
  std::string hash;  // raw SHA-256 of text, for digests
};
using ManagedLinePtr = std::shared_ptr<const ManagedLine>;
ManagedLinePtr MakeManagedLine(std::string text);

// One key allowed into one account of a host, and the grant that allows it.
struct AccessLine {
  std::string account;
  std::string fingerprint;
  std::string principal;
  int64_t grant_id = 0;
  absl::Time expires_at;  // the earlier of the key's and the grant's expiry
  ManagedLinePtr line;    // the exact authorized_keys line
};

// Where a key, or a principal's keys, log in (FleetView::Reach).
struct ReachLine {
  std::string hostname;
  AccessLine line;
};
struct ReachResult {
  std::vector<ReachLine> lines;  // at most the limit asked for
  size_t total = 0;              // every line, also those past the limit
  size_t hosts = 0;              // distinct hosts over every line
  size_t accounts = 0;           // distinct (host, account) pairs over every line
};

// The fleet's revoked keys as agents receive them with every desired state (agent.proto's
// Revocations): how many there are, and the newest few. Immutable and shared by every host.
struct RevocationList {
  uint64_t total = 0;
  std::vector<std::string> recent_sha256;  // raw 32-byte digests, at most kMaxRecentRevocations
  // Those of recent_sha256 revoked with kill_sessions, in the same order: agents end their
  // live sessions (Revocations.kill_sessions_sha256).
  std::vector<std::string> recent_kill_sha256;
};
using RevocationListPtr = std::shared_ptr<const RevocationList>;

struct AccountDesiredState {
  std::string account;
  std::vector<ManagedLinePtr> lines;  // sorted; may be empty: "no managed keys" is explicit
};

struct HostDesiredState {
  std::string hostname;
  std::string epoch;  // the database's (Snapshot::epoch): generations compare only within one
  uint64_t generation = 0;
  std::vector<AccountDesiredState> accounts;  // sorted by account
  UnmanagedKeysMode unmanaged = UnmanagedKeysMode::kKeep;
  RevocationListPtr revocations;  // null: none are known (an empty list is a count of 0)
  std::string digest;             // see DesiredStateDigest
};

// Upper bounds of the protobuf framing around a desired state sent to an agent (a WatchResponse):
// the message itself (generation, digest, hostname's tag, its Revocations: kRevocationsWireBytes)
// and each account (name's tag, flags).
// Each line adds its length plus 3 (tag and a length of at most 8 KiB). With these the
// controller refuses, at the mutation, a state over kMaxDesiredStateBytes.
inline constexpr size_t kDesiredStateWireOverheadBytes = 128 + kRevocationsWireBytes;
inline constexpr size_t kDesiredStateAccountOverheadBytes = 16;

// The managed line for `key` granted by `grant`: the grant's options plus
// expiry-time="YYYYMMDDHHMMZ" for `expires_at`, the key, and a comment naming the owner
// ("alice" or "alice/laptop"). Fails when the result is not a valid line of at most 8 KiB,
// which grant validation should have made impossible.
absl::StatusOr<std::string> RenderManagedLine(const AuthorizedKeysOptions& grant_options,
                                              absl::Time expires_at, const KeyRecord& key);

// Stored grant options are canonical text; "" means none.
absl::StatusOr<AuthorizedKeysOptions> ParseStoredGrantOptions(const std::string& text);

// OK when every line `grant` renders for `keys` fits kMaxAuthorizedKeysLineBytes (a longer line
// could never be delivered); INVALID_ARGUMENT naming the key, the size and the limit otherwise.
// Checked when a grant, a key or a key's label is added or changed.
absl::Status CheckGrantLinesFit(const GrantRecord& grant, const std::vector<KeyRecord>& keys);

// Hex SHA-256 over the unmanaged mode, the accounts and their lines' hashes, and the count of
// revoked keys (not the generation, the hostname or which revocations are recent): equal
// digests mean an agent has nothing to do. A revocation changes every host's digest, so it
// reaches every host's KRL and counts in every host's convergence.
std::string DesiredStateDigest(const HostDesiredState& state);

}  // namespace keyfleet::controller
