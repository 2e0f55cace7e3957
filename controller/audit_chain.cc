#include "controller/audit_chain.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace keyfleet::controller {
namespace {

constexpr char kDomain[] = "keyfleet-audit-v1";

// Length-prefixed so no choice of field contents can make two different events hash alike.
void AppendField(std::string* out, absl::string_view field) {
  uint64_t n = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(n >> shift));
  out->append(field.data(), field.size());
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace

std::string AuditEventHash(const AuditEvent& e) {
  std::string buf;
  AppendField(&buf, kDomain);
  AppendField(&buf, absl::StrCat(e.sequence));
  AppendField(&buf, absl::StrCat(absl::ToUnixMicros(e.at)));
  AppendField(&buf, e.actor);
  AppendField(&buf, e.action);
  AppendField(&buf, e.target);
  AppendField(&buf, e.before_json);
  AppendField(&buf, e.after_json);
  AppendField(&buf, e.prev_hash);
  return Sha256Hex(buf);
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
