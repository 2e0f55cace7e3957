// The managed block inside an authorized_keys file, and merging a desired state into a file
// while keeping every line outside the block byte for byte (comments, CRLF, a missing final
// newline). The block is
//
//   # keyfleet:begin epoch=E generation=N sha256=HEX
//   …managed lines…
//   # keyfleet:end
//
// (E: the controller's database epoch, 16 hex digits, absent in blocks written from states
// without one; N: the state's generation; HEX: SHA-256 of the block's lines, "\n"-joined).
//
// The hash tells a hand-edited block from an updated one. A new block goes at the top of the
// file, so nothing after it moves.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unmanaged_keys.h"
#include "node-agent/drift.h"

namespace keyfleet::agent {

inline constexpr char kBlockBeginPrefix[] = "# keyfleet:begin ";
inline constexpr char kBlockEnd[] = "# keyfleet:end";

enum class BlockState { kNone, kIntact, kDamaged };

// Which desired state something was written from. Generations order states only within one
// epoch: a restored or rebuilt database starts another history.
struct StateVersion {
  StateVersion() = default;
  StateVersion(uint64_t generation) : generation(generation) {}  // NOLINT: a state without epoch
  StateVersion(std::string epoch, uint64_t generation)
      : epoch(std::move(epoch)), generation(generation) {}
  std::string epoch;  // "" or kEpochLength lower-case hex digits
  uint64_t generation = 0;

  bool operator==(const StateVersion& o) const {
    return epoch == o.epoch && generation == o.generation;
  }
};
inline constexpr size_t kEpochLength = 16;
// "" or exactly kEpochLength lower-case hex digits.
bool IsValidEpoch(absl::string_view epoch);
// "generation N" or "generation N of epoch E", for messages.
std::string DescribeVersion(const StateVersion& version);

struct ParsedAuthorizedKeys {
  BlockState state = BlockState::kNone;
  std::vector<std::string> before;  // raw lines with their terminators (all lines when kNone)
  std::vector<std::string> block;   // managed lines, without terminators
  std::vector<std::string> after;   // raw lines with their terminators
  StateVersion version;             // from the begin marker
  bool hash_matches = false;        // the block is what the agent wrote
  std::string damage;               // why kDamaged: two begins, no end, an unknown marker…
};

// Any line starting "# keyfleet:" that is not one well-formed begin followed later by one
// well-formed end makes the whole file kDamaged.
ParsedAuthorizedKeys ParseAuthorizedKeysFile(absl::string_view content);

struct MergeResult {
  std::string content;
  std::vector<Drift> drift;  // account and path left empty for the caller
};

// The new file content for `desired` (complete lines) at `version`. Unmanaged key lines are
// kept (kKeep), kept and reported (kReport) or dropped and reported (kRemove); comments and
// blank lines are always kept. A hand-edited block is reported (lines missing or edited when
// the version is unchanged). FAILED_PRECONDITION for a kDamaged file: the caller must not
// write it.
absl::StatusOr<MergeResult> MergeAuthorizedKeys(const ParsedAuthorizedKeys& parsed,
                                                const std::vector<std::string>& desired,
                                                const StateVersion& version,
                                                UnmanagedKeysMode mode);

// Repairs a kDamaged file when the lines the agent last wrote for this account are known (from
// its cache): every "# keyfleet:" line and every line exactly equal to one of
// `previously_managed` is dropped — lines the agent itself wrote — every other line is kept
// byte for byte, and a fresh block goes on top, as MergeAuthorizedKeys does for a file without
// one. Adds a repaired DAMAGED_MARKER drift item. A user's own line is never removed.
absl::StatusOr<MergeResult> RepairDamagedFile(const ParsedAuthorizedKeys& parsed,
                                              const std::set<std::string>& previously_managed,
                                              const std::vector<std::string>& desired,
                                              const StateVersion& version,
                                              UnmanagedKeysMode mode);

// The block alone, as MergeAuthorizedKeys writes it.
std::string RenderManagedBlock(const std::vector<std::string>& lines, const StateVersion& version);

}  // namespace keyfleet::agent
