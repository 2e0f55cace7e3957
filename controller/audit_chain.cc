#include "controller/audit_chain.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <deque>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/audit_signer.h"
#include "controller/field_hasher.h"

namespace keyfleet::controller {
namespace {

// What can be wrong, ranked so that for one event the most telling explanation is reported:
// a checkpoint that does not verify also leaves its events uncovered, and a deleted signed event
// is also beyond the end of the log.
enum class Finding { kBadCheckpoint, kChain, kHashDiffers, kMissing, kBeyondEnd, kUncovered };

// The earliest problem found so far. Callers ask Earlier() before building a detail, so a log
// rewritten from its first event costs no message per event.
class FirstProblem {
 public:
  bool Earlier(uint64_t sequence, Finding finding) const {
    return !found_ || sequence < sequence_ || (sequence == sequence_ && finding < finding_);
  }
  void Report(uint64_t sequence, Finding finding, std::string detail) {
    if (!Earlier(sequence, finding)) return;
    found_ = true;
    sequence_ = sequence;
    finding_ = finding;
    detail_ = std::move(detail);
  }
  bool found() const { return found_; }
  uint64_t sequence() const { return sequence_; }
  const std::string& detail() const { return detail_; }

 private:
  bool found_ = false;
  uint64_t sequence_ = 0;
  Finding finding_ = Finding::kUncovered;
  std::string detail_;
};

std::string TimeText(absl::Time t) {
  return absl::FormatTime(kAuditTimeFormat, t, absl::UTCTimeZone());
}

std::string EventName(const AuditEvent& e) {
  return absl::StrCat("audit event ", e.sequence, " (", e.action, " ", e.target, ")");
}

std::string CheckpointName(const AuditCheckpoint& cp) {
  return absl::StrCat("audit checkpoint #", cp.id, " (signed at ", TimeText(cp.signed_at),
                      " by key ", cp.key_id, ")");
}

// The event a checkpoint is reported at: the lowest it lists (1 for a checkpoint listing none,
// which only a broken store can produce).
uint64_t FirstListed(const AuditCheckpoint& cp) {
  if (cp.events.empty()) return 1;
  return std::min_element(cp.events.begin(), cp.events.end())->first;
}

const AuditVerifier* TrustedVerifierFor(const std::string& key_id,
                                        const std::vector<const AuditVerifier*>& trusted) {
  for (const AuditVerifier* verifier : trusted) {
    if (verifier != nullptr && verifier->key_id() == key_id) return verifier;
  }
  return nullptr;
}

std::string TrustedKeyIds(const std::vector<const AuditVerifier*>& trusted) {
  std::vector<std::string> ids;
  for (const AuditVerifier* verifier : trusted) {
    if (verifier != nullptr) ids.push_back(verifier->key_id());
  }
  return ids.empty() ? "none" : absl::StrJoin(ids, ", ");
}

using Digest = std::array<uint8_t, 32>;

// The binary form of a hash as AuditEventHash writes it (64 lower-case hex digits); nullopt for
// any other text, which equals no hash a valid checkpoint lists (they are all of that form).
std::optional<Digest> DecodeHash(absl::string_view hex) {
  if (hex.size() != 2 * std::tuple_size<Digest>::value) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  Digest out;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

// Strictly ascending sequences as runs of consecutive numbers (one run per gap that rolled-back
// transactions left): how many of them are below a given sequence.
class SequenceRuns {
 public:
  void Add(uint64_t sequence) {
    if (!runs_.empty() && sequence == runs_.back().first + runs_.back().count) {
      ++runs_.back().count;
      return;
    }
    const uint64_t before = runs_.empty() ? 0 : runs_.back().before + runs_.back().count;
    runs_.push_back({sequence, 1, before});
  }
  uint64_t CountBelow(uint64_t sequence) const {
    // The last run starting below `sequence`.
    auto it = std::partition_point(runs_.begin(), runs_.end(),
                                   [&](const Run& r) { return r.first < sequence; });
    if (it == runs_.begin()) return 0;
    --it;
    return it->before + std::min(it->count, sequence - it->first);
  }

 private:
  struct Run {
    uint64_t first;
    uint64_t count;
    uint64_t before;  // sequences in earlier runs
  };
  std::vector<Run> runs_;
};

}  // namespace

std::string AuditEventHash(const AuditEvent& e) {
  FieldHasher hasher("keyfleet-audit-v1");
  hasher.Add(absl::StrCat(e.sequence));
  hasher.Add(absl::StrCat(absl::ToUnixMicros(e.at)));
  hasher.Add(e.actor);
  hasher.Add(e.action);
  hasher.Add(e.target);
  hasher.Add(e.before_json);
  hasher.Add(e.after_json);
  hasher.Add(e.prev_hash);
  return hasher.HexDigest();
}

void AuditChainVerifier::Add(const AuditEvent& e) {
  if (!result_.ok) return;
  std::string problem;
  if (e.prev_hash != expected_prev_) {
    problem = absl::StrCat("its prev_hash ", e.prev_hash.empty() ? "(empty)" : e.prev_hash,
                           " does not match the previous event's hash ",
                           expected_prev_.empty() ? "(none)" : expected_prev_,
                           ": an event before it was removed, inserted or edited");
  } else if (AuditEventHash(e) != e.hash) {
    problem = "its content does not match its hash: the event was edited";
  }
  if (!problem.empty()) {
    result_.ok = false;
    result_.first_bad_sequence = e.sequence;
    result_.detail =
        absl::StrCat("audit event ", e.sequence, " (", e.action, " ", e.target, "): ", problem);
    return;
  }
  ++result_.events_checked;
  expected_prev_ = e.hash;
}

AuditVerification VerifyAuditChain(const std::vector<AuditEvent>& events) {
  AuditChainVerifier chain;
  for (const AuditEvent& e : events) {
    chain.Add(e);
    if (!chain.result().ok) break;
  }
  return chain.result();
}

struct AuditLogVerifier::State {
  // A checkpoint whose signature verified, as far as messages need it.
  struct SignedBy {
    int64_t id = 0;
    int64_t signed_at_us = 0;  // signed_at is whole microseconds
  };
  // One (sequence, hash) a valid checkpoint lists.
  struct Entry {
    uint64_t sequence = 0;
    uint64_t checkpoint = 0;  // index into `checkpoints`
    Digest hash{};
  };
  struct BySequence {
    bool operator()(const Entry& a, uint64_t b) const { return a.sequence < b; }
    bool operator()(uint64_t a, const Entry& b) const { return a < b.sequence; }
    bool operator()(const Entry& a, const Entry& b) const { return a.sequence < b.sequence; }
  };

  std::vector<const AuditVerifier*> trusted;
  uint64_t signed_head = 0;
  FirstProblem first;         // every finding but the chain's and the order's, as they come
  AuditChainVerifier chain;   // the first broken link
  FirstProblem out_of_order;  // events whose sequence does not ascend
  uint64_t checkpoints_checked = 0;
  // Deques: growing one never copies it, so a million entries peak at their own size.
  std::deque<SignedBy> checkpoints;
  std::deque<Entry> entries;  // by sequence once sealed; a checkpoint's among equals by id
  std::vector<bool> matched;  // per entry: an event with its sequence came
  bool sealed = false;
  uint64_t events = 0;
  uint64_t last_sequence = 0;  // of the last event added
  bool ascending = true;       // so far
  SequenceRuns ascending_prefix;

  // Orders the entries once every checkpoint is in.
  void Seal() {
    if (sealed) return;
    sealed = true;
    if (!std::is_sorted(entries.begin(), entries.end(), BySequence())) {
      std::stable_sort(entries.begin(), entries.end(), BySequence());
    }
    matched.assign(entries.size(), false);
  }

  // Each entry listing `e`: its signed hash is e's and e is covered.
  void CheckSigned(const AuditEvent& e) {
    const auto [lo, hi] =
        std::equal_range(entries.begin(), entries.end(), e.sequence, BySequence());
    if (lo == hi) {
      if (!first.Earlier(e.sequence, Finding::kUncovered)) return;
      first.Report(e.sequence, Finding::kUncovered,
                   absl::StrCat(EventName(e), ", by ", e.actor, " at ", TimeText(e.at),
                                ", is not covered by any valid signed checkpoint: it was added "
                                "without the controller, or its checkpoint was deleted"));
      return;
    }
    const std::optional<Digest> hash = DecodeHash(e.hash);
    for (auto it = lo; it != hi; ++it) {
      matched[static_cast<size_t>(it - entries.begin())] = true;
      if ((hash && *hash == it->hash) || !first.Earlier(e.sequence, Finding::kHashDiffers)) {
        continue;
      }
      const SignedBy& cp = checkpoints[it->checkpoint];
      first.Report(e.sequence, Finding::kHashDiffers,
                   absl::StrCat(EventName(e), " differs from what the controller signed at ",
                                TimeText(absl::FromUnixMicros(cp.signed_at_us)), " (checkpoint #",
                                cp.id, "): the log was rewritten"));
    }
  }

  // Signed entries no event came for: deleted events.
  void ReportMissing() {
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& entry = entries[i];
      if (matched[i] || !first.Earlier(entry.sequence, Finding::kMissing)) continue;
      const SignedBy& cp = checkpoints[entry.checkpoint];
      first.Report(entry.sequence, Finding::kMissing,
                   absl::StrCat("audit event ", entry.sequence, ", signed by the controller at ",
                                TimeText(absl::FromUnixMicros(cp.signed_at_us)), " (checkpoint #",
                                cp.id, "), is missing from the log: events were deleted"));
    }
  }

  // Events deleted from the end together with their checkpoints: only this running controller's
  // memory of what it signed shows them.
  void ReportBeyondEnd() {
    const uint64_t last = last_sequence;
    if (signed_head <= last) return;
    // The lowest signed sequence after the last event: what a deletion from the end removed
    // first.
    const auto after_last = std::upper_bound(entries.begin(), entries.end(), last, BySequence());
    const uint64_t missing = after_last != entries.end() ? after_last->sequence : last + 1;
    if (!first.Earlier(missing, Finding::kBeyondEnd)) return;
    first.Report(
        missing, Finding::kBeyondEnd,
        events == 0
            ? absl::StrCat("the log is empty, but this controller signed events up to ",
                           signed_head, ": they were deleted together with their checkpoints")
            : absl::StrCat("the log ends at event ", last,
                           ", before what this controller signed (up to event ", signed_head,
                           "): events after ", last,
                           " were deleted together with their checkpoints"));
  }
};

AuditLogVerifier::AuditLogVerifier(std::vector<const AuditVerifier*> trusted, uint64_t signed_head)
    : state_(std::make_unique<State>()) {
  state_->trusted = std::move(trusted);
  state_->signed_head = signed_head;
}

AuditLogVerifier::~AuditLogVerifier() = default;

void AuditLogVerifier::AddCheckpoint(const AuditCheckpoint& cp) {
  State& s = *state_;
  assert(!s.sealed);  // every checkpoint comes before the first event
  const uint64_t reported_at = FirstListed(cp);
  const AuditVerifier* verifier = TrustedVerifierFor(cp.key_id, s.trusted);
  if (verifier == nullptr) {
    if (s.first.Earlier(reported_at, Finding::kBadCheckpoint)) {
      s.first.Report(reported_at, Finding::kBadCheckpoint,
                     absl::StrCat(CheckpointName(cp), ", listing events from ", reported_at,
                                  ", is signed by a key this controller does not trust (trusted: ",
                                  TrustedKeyIds(s.trusted),
                                  "): it was forged, or made with an earlier audit key whose "
                                  "public key must be added to the trusted keys"));
    }
    return;
  }
  if (absl::Status signature = verifier->VerifySignature(cp); !signature.ok()) {
    if (s.first.Earlier(reported_at, Finding::kBadCheckpoint)) {
      s.first.Report(reported_at, Finding::kBadCheckpoint,
                     absl::StrCat(signature.message(), "; it lists events from ", reported_at,
                                  ", which no valid signature now vouches for"));
    }
    return;
  }
  ++s.checkpoints_checked;
  const uint64_t index = s.checkpoints.size();
  s.checkpoints.push_back({cp.id, absl::ToUnixMicros(cp.signed_at)});
  for (const auto& [sequence, signed_hash] : cp.events) {
    // A verified signature covers only well-formed events (ValidateCheckpointEvents).
    const std::optional<Digest> hash = DecodeHash(signed_hash);
    if (hash) s.entries.push_back({sequence, index, *hash});
  }
}

void AuditLogVerifier::AddEvent(const AuditEvent& e) {
  State& s = *state_;
  s.Seal();
  s.chain.Add(e);
  if (s.events > 0 && e.sequence <= s.last_sequence) {
    s.ascending = false;
    if (s.out_of_order.Earlier(e.sequence, Finding::kChain)) {
      s.out_of_order.Report(e.sequence, Finding::kChain,
                            absl::StrCat(EventName(e), " comes after event ", s.last_sequence,
                                         ": the log is out of order or holds an event twice"));
    }
  } else if (s.ascending) {
    s.ascending_prefix.Add(e.sequence);
  }
  s.last_sequence = e.sequence;
  ++s.events;
  s.CheckSigned(e);
}

AuditVerification AuditLogVerifier::Finish() {
  State& s = *state_;
  s.Seal();
  // The chain's finding before the order's: at one sequence, the broken link is what is said.
  const AuditVerification& chain = s.chain.result();
  if (!chain.ok) s.first.Report(chain.first_bad_sequence, Finding::kChain, chain.detail);
  if (s.out_of_order.found()) {
    s.first.Report(s.out_of_order.sequence(), Finding::kChain, s.out_of_order.detail());
  }
  s.ReportMissing();
  s.ReportBeyondEnd();

  AuditVerification result;
  result.checkpoints_checked = s.checkpoints_checked;
  result.events_checked = s.events;
  if (s.first.found()) {
    result.ok = false;
    result.first_bad_sequence = s.first.sequence();
    result.detail = s.first.detail();
    // The events before the first one at or after the bad sequence. Out of order, that one
    // lies within the ascending prefix: the first out-of-order event is itself a finding, at
    // or after the reported one.
    result.events_checked = s.ascending_prefix.CountBelow(result.first_bad_sequence);
  }
  return result;
}

AuditVerification VerifyAuditLog(const std::vector<AuditEvent>& events,
                                 const std::vector<AuditCheckpoint>& checkpoints,
                                 const std::vector<const AuditVerifier*>& trusted,
                                 uint64_t signed_head) {
  AuditLogVerifier verifier(trusted, signed_head);
  for (const AuditCheckpoint& cp : checkpoints) verifier.AddCheckpoint(cp);
  for (const AuditEvent& e : events) verifier.AddEvent(e);
  return verifier.Finish();
}

}  // namespace keyfleet::controller
