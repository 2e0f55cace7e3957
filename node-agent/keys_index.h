// The keys index: one file per account holding its managed authorized_keys lines and a table
// sorted by the SHA-256 of each line's key, so `authorized-keys-command USER --fingerprint %f`
// answers sshd with only the lines of the offered key by binary search: a few small reads
// whatever the number of keys the account has.
//
// Layout (integers little-endian):
//
//   offset 0   magic "KFKEYIX1"                           8 bytes
//          8   entry count N                              u32
//         12   lines size L                               u32
//         16   SHA-256 of the lines                       32 bytes
//         48   N entries, ascending by (digest, offset):  40 bytes each
//                SHA-256 of the key blob sshd fingerprints (the certified key for a
//                certificate, as sshd's %f), 32 bytes; offset of the line in the lines, u32;
//                its length with its '\n', u32
//   48 + 40N   the lines, each ending in '\n', in the order of the desired state   L bytes
//
// and nothing after. Readers trust nothing: every entry they touch is checked against the
// bounds, every line they return must parse as an authorized_keys line whose key has the
// digest asked for. A lookup reads the header, about log2(N) entries and the matching lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/authorized_keys_line.h"

namespace keyfleet::agent {

inline constexpr char kKeysIndexMagic[] = "KFKEYIX1";  // 8 bytes, no terminator in the file
inline constexpr size_t kKeysIndexHeaderBytes = 48;
inline constexpr size_t kKeysIndexEntryBytes = 40;
// Limits of the format, above what the agent writes (kMaxManagedKeysPerAccount lines of at
// most kMaxAuthorizedKeysLineBytes), so an index built by hand for a benchmark fits too.
inline constexpr uint32_t kMaxKeysIndexEntries = 1u << 16;
inline constexpr uint32_t kMaxKeysIndexLinesBytes = 64u << 20;
inline constexpr size_t kMaxKeysIndexLineBytes = kMaxAuthorizedKeysLineBytes + 1;  // with '\n'

// Where an index is read from: a file through pread, or bytes in memory (tests, the fuzzer).
class KeysIndexSource {
 public:
  virtual ~KeysIndexSource() = default;
  virtual uint64_t size() const = 0;
  // Exactly `length` bytes at `offset` into `out`; false when they cannot be read.
  virtual bool ReadAt(uint64_t offset, size_t length, std::string* out) const = 0;
};

class KeysIndexBytes : public KeysIndexSource {
 public:
  explicit KeysIndexBytes(absl::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  bool ReadAt(uint64_t offset, size_t length, std::string* out) const override;

 private:
  absl::string_view bytes_;
};

// The index of `lines` (complete authorized_keys lines, without '\n'). INVALID_ARGUMENT naming
// the line when one does not parse or holds a line break, or when the limits are passed.
absl::StatusOr<std::string> BuildKeysIndex(const std::vector<std::string>& lines);

// The SHA-256 of the lines section BuildKeysIndex makes of `lines`: equal to the stored one
// when an index holds exactly these lines (so the agent rewrites an index only when it differs).
std::string KeysIndexLinesDigest(const std::vector<std::string>& lines);

struct KeysIndexHeader {
  uint32_t entries = 0;
  uint32_t lines_bytes = 0;
  std::string lines_sha256;  // 32 bytes
};
// The header of `source`, checked: magic, limits, and a size equal to what they add up to.
// INVALID_ARGUMENT saying what is wrong.
absl::StatusOr<KeysIndexHeader> ReadKeysIndexHeader(const KeysIndexSource& source);

// The lines (each with its '\n', concatenated, in file order) whose key has the SHA-256
// `key_digest` (32 bytes); "" when there is none. INVALID_ARGUMENT when anything it reads is
// malformed: it then returns no line at all.
absl::StatusOr<std::string> LookupKeysIndex(const KeysIndexSource& source,
                                            absl::string_view key_digest);

// Checks all of `source` (linear: for tests, the fuzzer and diagnostics, never at login): the
// header, entries in strict order, lines that tile the lines section exactly and each parse
// with the digest of its entry, and the lines' SHA-256. Returns the lines in file order.
absl::StatusOr<std::vector<std::string>> ValidateKeysIndex(const KeysIndexSource& source);

}  // namespace keyfleet::agent
