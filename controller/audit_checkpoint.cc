#include "controller/audit_checkpoint.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyfleet::controller {
namespace {

constexpr char kPayloadDomain[] = "keyfleet-audit-checkpoint-v1";
constexpr char kEventsForm[] =
    "\"SEQ:HASH\" entries joined by ',', SEQ a decimal number > 0 without leading zeros, HASH 64 "
    "lower-case hex digits, in strictly ascending SEQ order";
// An entry is quoted in an error message up to this many bytes.
constexpr size_t kMaxQuotedEntryBytes = 100;

// FieldHasher's framing: 8-byte big-endian length, then the bytes.
void AppendField(std::string* out, absl::string_view field) {
  const uint64_t n = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(n >> shift));
  out->append(field.data(), field.size());
}

bool IsLowerHex(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
}

// Why `hash` is not an event hash, or "" if it is one.
std::string HashProblem(absl::string_view hash) {
  if (hash.size() != kCheckpointHashHexDigits) {
    return absl::StrCat("its hash has ", hash.size(), " characters (allowed: exactly ",
                        kCheckpointHashHexDigits, " lower-case hex digits)");
  }
  if (!std::all_of(hash.begin(), hash.end(), IsLowerHex)) {
    return absl::StrCat("its hash is not lower-case hex (allowed: exactly ",
                        kCheckpointHashHexDigits, " digits 0-9a-f)");
  }
  return "";
}

absl::Status CountProblem(size_t count) {
  return absl::InvalidArgumentError(absl::StrCat(
      "a checkpoint lists ", count, " events (allowed: 1 to ", kMaxCheckpointEvents, ")"));
}

// Parses a decimal sequence > 0 without sign, whitespace or leading zeros.
bool ParseSequence(absl::string_view text, uint64_t* sequence) {
  if (text.empty() || text.front() == '0') return false;
  uint64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *sequence = value;
  return true;
}

}  // namespace

std::string CheckpointPayload(const AuditCheckpoint& cp) {
  std::string payload;
  AppendField(&payload, kPayloadDomain);
  AppendField(&payload, absl::StrCat(absl::ToUnixMicros(cp.signed_at)));
  AppendField(&payload, cp.key_id);
  AppendField(&payload, absl::StrCat(cp.events.size()));
  for (const auto& [sequence, hash] : cp.events) {
    AppendField(&payload, absl::StrCat(sequence));
    AppendField(&payload, hash);
  }
  return payload;
}

absl::Status ValidateCheckpointEvents(const CheckpointEvents& events) {
  if (events.empty() || events.size() > kMaxCheckpointEvents) return CountProblem(events.size());
  uint64_t previous = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& [sequence, hash] = events[i];
    std::string problem = HashProblem(hash);
    if (sequence == 0) {
      problem = "its sequence is 0 (allowed: > 0)";
    } else if (sequence <= previous) {
      problem = absl::StrCat("its sequence is not above the previous entry's ", previous,
                             " (entries must be in strictly ascending sequence order)");
    }
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint event entry ", i + 1, " (sequence ", sequence, "): ", problem));
    }
    previous = sequence;
  }
  return absl::OkStatus();
}

std::string FormatCheckpointEvents(const CheckpointEvents& events) {
  return absl::StrJoin(events, ",", [](std::string* out, const auto& event) {
    absl::StrAppend(out, event.first, ":", event.second);
  });
}

absl::StatusOr<CheckpointEvents> ParseCheckpointEvents(absl::string_view text) {
  // Counted before anything is allocated, so an oversized column costs one pass.
  const size_t count = static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1;
  if (text.empty() || count > kMaxCheckpointEvents) return CountProblem(text.empty() ? 0 : count);
  CheckpointEvents events;
  events.reserve(count);
  size_t position = 0;
  for (size_t index = 1; index <= count; ++index) {
    const size_t comma = std::min(text.find(',', position), text.size());
    const absl::string_view entry = text.substr(position, comma - position);
    position = comma + 1;
    auto bad = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint event entry ", index, " \"",
                       absl::CHexEscape(entry.substr(0, kMaxQuotedEntryBytes)),
                       entry.size() > kMaxQuotedEntryBytes ? "..." : "", "\" ", problem,
                       " (allowed: ", kEventsForm, ")"));
    };
    if (entry.empty()) return bad("is empty");
    const size_t colon = entry.find(':');
    if (colon == absl::string_view::npos) return bad("has no ':' between sequence and hash");
    uint64_t sequence = 0;
    if (!ParseSequence(entry.substr(0, colon), &sequence)) {
      return bad("does not start with a decimal sequence > 0 without leading zeros");
    }
    const absl::string_view hash = entry.substr(colon + 1);
    if (std::string problem = HashProblem(hash); !problem.empty()) return bad(problem);
    if (!events.empty() && sequence <= events.back().first) {
      return bad(absl::StrCat("is not above the previous entry's sequence ", events.back().first));
    }
    events.emplace_back(sequence, std::string(hash));
  }
  return events;
}

}  // namespace keyfleet::controller
