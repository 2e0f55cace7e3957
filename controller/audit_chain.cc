#include "controller/audit_chain.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

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

AuditVerification VerifyAuditChain(const std::vector<AuditEvent>& events) {
  AuditVerification result;
  std::string expected_prev;
  for (const AuditEvent& e : events) {
    std::string problem;
    if (e.prev_hash != expected_prev) {
      problem = absl::StrCat("its prev_hash ", e.prev_hash.empty() ? "(empty)" : e.prev_hash,
                             " does not match the previous event's hash ",
                             expected_prev.empty() ? "(none)" : expected_prev,
                             ": an event before it was removed, inserted or edited");
    } else if (AuditEventHash(e) != e.hash) {
      problem = "its content does not match its hash: the event was edited";
    }
    if (!problem.empty()) {
      result.ok = false;
      result.first_bad_sequence = e.sequence;
      result.detail =
          absl::StrCat("audit event ", e.sequence, " (", e.action, " ", e.target, "): ", problem);
      return result;
    }
    ++result.events_checked;
    expected_prev = e.hash;
  }
  return result;
}

AuditVerification VerifyAuditLog(const std::vector<AuditEvent>& events,
                                 const std::vector<AuditCheckpoint>& checkpoints,
                                 const std::vector<const AuditVerifier*>& trusted,
                                 uint64_t signed_head) {
  FirstProblem first;
  const AuditVerification chain = VerifyAuditChain(events);
  if (!chain.ok) first.Report(chain.first_bad_sequence, Finding::kChain, chain.detail);

  // Each event by sequence, once; checkpoints then cost one lookup per listed entry.
  std::unordered_map<uint64_t, size_t> index_of;
  index_of.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const AuditEvent& e = events[i];
    if (i > 0 && e.sequence <= events[i - 1].sequence &&
        first.Earlier(e.sequence, Finding::kChain)) {
      first.Report(e.sequence, Finding::kChain,
                   absl::StrCat(EventName(e), " comes after event ", events[i - 1].sequence,
                                ": the log is out of order or holds an event twice"));
    }
    index_of.emplace(e.sequence, i);
  }
  const uint64_t last = events.empty() ? 0 : events.back().sequence;

  AuditVerification result;
  std::vector<bool> covered(events.size(), false);
  // The lowest signed sequence after the last event: what a deletion from the end removed first.
  std::optional<uint64_t> first_signed_after_last;
  for (const AuditCheckpoint& cp : checkpoints) {
    const uint64_t reported_at = FirstListed(cp);
    const AuditVerifier* verifier = TrustedVerifierFor(cp.key_id, trusted);
    if (verifier == nullptr) {
      if (first.Earlier(reported_at, Finding::kBadCheckpoint)) {
        first.Report(reported_at, Finding::kBadCheckpoint,
                     absl::StrCat(CheckpointName(cp), ", listing events from ", reported_at,
                                  ", is signed by a key this controller does not trust (trusted: ",
                                  TrustedKeyIds(trusted),
                                  "): it was forged, or made with an earlier audit key whose "
                                  "public key must be added to the trusted keys"));
      }
      continue;
    }
    if (absl::Status signature = verifier->VerifySignature(cp); !signature.ok()) {
      if (first.Earlier(reported_at, Finding::kBadCheckpoint)) {
        first.Report(reported_at, Finding::kBadCheckpoint,
                     absl::StrCat(signature.message(), "; it lists events from ", reported_at,
                                  ", which no valid signature now vouches for"));
      }
      continue;
    }
    ++result.checkpoints_checked;
    for (const auto& [sequence, signed_hash] : cp.events) {
      if (sequence > last) {
        first_signed_after_last = std::min(first_signed_after_last.value_or(sequence), sequence);
      }
      const auto found = index_of.find(sequence);
      if (found == index_of.end()) {
        if (first.Earlier(sequence, Finding::kMissing)) {
          first.Report(sequence, Finding::kMissing,
                       absl::StrCat("audit event ", sequence, ", signed by the controller at ",
                                    TimeText(cp.signed_at), " (checkpoint #", cp.id,
                                    "), is missing from the log: events were deleted"));
        }
        continue;
      }
      covered[found->second] = true;
      const AuditEvent& e = events[found->second];
      if (e.hash != signed_hash && first.Earlier(sequence, Finding::kHashDiffers)) {
        first.Report(sequence, Finding::kHashDiffers,
                     absl::StrCat(EventName(e), " differs from what the controller signed at ",
                                  TimeText(cp.signed_at), " (checkpoint #", cp.id,
                                  "): the log was rewritten"));
      }
    }
  }

  for (size_t i = 0; i < events.size(); ++i) {
    const AuditEvent& e = events[i];
    if (covered[i] || !first.Earlier(e.sequence, Finding::kUncovered)) continue;
    first.Report(e.sequence, Finding::kUncovered,
                 absl::StrCat(EventName(e), ", by ", e.actor, " at ", TimeText(e.at),
                              ", is not covered by any valid signed checkpoint: it was added "
                              "without the controller, or its checkpoint was deleted"));
  }

  if (signed_head > last) {
    const uint64_t missing = first_signed_after_last.value_or(last + 1);
    if (first.Earlier(missing, Finding::kBeyondEnd)) {
      first.Report(
          missing, Finding::kBeyondEnd,
          events.empty()
              ? absl::StrCat("the log is empty, but this controller signed events up to ",
                             signed_head, ": they were deleted together with their checkpoints")
              : absl::StrCat("the log ends at event ", last,
                             ", before what this controller signed (up to event ", signed_head,
                             "): events after ", last,
                             " were deleted together with their checkpoints"));
    }
  }

  if (first.found()) {
    result.ok = false;
    result.first_bad_sequence = first.sequence();
    result.detail = first.detail();
  }
  for (const AuditEvent& e : events) {
    if (!result.ok && e.sequence >= result.first_bad_sequence) break;
    ++result.events_checked;
  }
  return result;
}

}  // namespace keyfleet::controller
