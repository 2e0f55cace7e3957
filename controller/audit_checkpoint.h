// Signed audit checkpoints: for each batch of audit events one mutation appends, the controller
// signs the (sequence, hash) of every event with a key kept outside PostgreSQL
// (audit_signer.h), so that someone who can write to the database cannot rewrite, insert or
// delete events without the signatures showing it (VerifyAuditLog in audit_chain.h).
//
// This file holds the data, its canonical signed encoding and its storage form; it has no
// OpenSSL dependency so that the parser can be fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet::controller {

// One mutation appends a handful of events; a bootstrap checkpoint over an existing log is
// split into checkpoints of at most this many events.
inline constexpr size_t kMaxCheckpointEvents = 100000;
// An event hash: lower-case hex SHA-256 (AuditEventHash).
inline constexpr size_t kCheckpointHashHexDigits = 64;
// How times appear in audit messages, in UTC: 2026-11-30T12:00:00Z.
inline constexpr char kAuditTimeFormat[] = "%Y-%m-%d%ET%H:%M:%SZ";

using CheckpointEvents = std::vector<std::pair<uint64_t, std::string>>;

struct AuditCheckpoint {
  int64_t id = 0;        // row id, assigned by the store (not signed)
  absl::Time signed_at;  // whole microseconds (as stored and as signed)
  // "sha256:" + lower-case hex SHA-256 of the signer's public key (DER SubjectPublicKeyInfo).
  std::string key_id;
  // (sequence, hex hash) of each event of the batch: at least one, strictly ascending sequence.
  CheckpointEvents events;
  // Base64 (standard alphabet, padded) DER ECDSA-SHA256 signature over CheckpointPayload.
  std::string signature;
};

// The exact bytes signed: the fields "keyfleet-audit-checkpoint-v1", signed_at in unix
// microseconds (decimal), key_id, the number of events (decimal), then each event's sequence
// (decimal) and hash, each field framed as FieldHasher frames it (8-byte big-endian length,
// then the bytes), so no two checkpoints encode alike. `id` and `signature` are not included.
std::string CheckpointPayload(const AuditCheckpoint& cp);

// OK iff `events` has 1 to kMaxCheckpointEvents entries, each with a sequence > 0 and a hash of
// exactly 64 lower-case hex digits, in strictly ascending sequence order; INVALID_ARGUMENT
// naming the first bad entry and what is allowed otherwise.
absl::Status ValidateCheckpointEvents(const CheckpointEvents& events);

// The storage form of `events` for one text column: "SEQ:HASH" entries joined by ','.
std::string FormatCheckpointEvents(const CheckpointEvents& events);

// Parses FormatCheckpointEvents' form strictly, accepting exactly what it produces for events
// ValidateCheckpointEvents accepts: decimal sequences > 0 without sign or leading zeros, hashes
// of 64 lower-case hex digits, strictly ascending, 1 to kMaxCheckpointEvents entries, no
// whitespace, no empty entries. INVALID_ARGUMENT naming the bad entry (its position and text)
// otherwise; a store reading the column reports that as DATA_LOSS.
absl::StatusOr<CheckpointEvents> ParseCheckpointEvents(absl::string_view text);

}  // namespace keyfleet::controller
