#include "controller/audit_chain.h"

#include "absl/strings/str_cat.h"
#include "controller/field_hasher.h"

namespace keyfleet::controller {
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

}  // namespace keyfleet::controller
