#include "tests/support/audit_log_fill.h"

#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/audit_chain.h"
#include "controller/audit_checkpoint.h"

namespace keyfleet::testing {
namespace {

using controller::AuditEvent;

// splitmix64: a fixed, well-spread stream of bits per event, so every run writes the same log.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// `n` base64-alphabet characters drawn from `seed`.
std::string Base64Text(uint64_t seed, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(n);
  uint64_t bits = Mix(seed);
  for (size_t i = 0; i < n; ++i) {
    if (i % 10 == 9) bits = Mix(bits);
    out.push_back(kAlphabet[(bits >> (6 * (i % 10))) & 63]);
  }
  return out;
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

// A key record as the store writes it (record_json.h KeyToJson), about 400 bytes.
std::string KeyJson(uint64_t n, absl::Time at, const std::string& state) {
  const std::string owner = absl::StrCat("person-", n % 5000);
  return absl::StrCat(
      R"({"fingerprint":"SHA256:)", Base64Text(n, 43), R"(","principal":")", owner,
      R"(","type":"ssh-ed25519","bits":256,"public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI)",
      Base64Text(n + 1, 43), R"(","comment":")", owner, R"(@laptop-)", n % 97,
      R"(","label":"","created_at":")", TimeText(at), R"(","expires_at":")",
      TimeText(at + absl::Hours(24 * 365)), R"(","state":")", state,
      R"(","successor_fingerprint":"","source":"api","revocation_reason":""})");
}

std::string GrantJson(uint64_t n) {
  return absl::StrCat(R"({"id":)", n, R"(,"principal":"person-)", n % 5000,
                      R"(","key_fingerprint":"","hosts":{"labels":{"env":"prod","role":"web-)",
                      n % 40, R"("},"hostname_glob":""},"account":"deploy","options":)",
                      R"(["no-port-forwarding","no-agent-forwarding"],"expires_at":null,)",
                      R"("allow_root":false})");
}

std::string HostJson(uint64_t n, absl::Time at) {
  return absl::StrCat(R"({"hostname":"host-)", n % 100000,
                      R"(.example.internal","labels":{"env":"prod","role":"web-)", n % 40,
                      R"("},"first_seen":")", TimeText(at), R"(","enrollment_id":")",
                      Base64Text(n + 2, 22), R"(","certificate_expires":")",
                      TimeText(at + absl::Hours(24 * 30)), R"(","host_key_fingerprints":["SHA256:)",
                      Base64Text(n + 3, 43), R"("]})");
}

// Writes each (sequence, hash) batch as one signed checkpoint row.
class CheckpointWriter {
 public:
  CheckpointWriter(pqxx::transaction_base& txn, const controller::AuditSigner& signer)
      : signer_(signer),
        stream_(txn, "audit_checkpoints",
                std::vector<std::string>{"first_seq", "last_seq", "signed_at", "key_id", "events",
                                         "signature"}) {}

  absl::Status Write(controller::CheckpointEvents batch, absl::Time at) {
    const int64_t first = static_cast<int64_t>(batch.front().first);
    const int64_t last = static_cast<int64_t>(batch.back().first);
    absl::StatusOr<controller::AuditCheckpoint> cp = signer_.Sign(std::move(batch), at);
    if (!cp.ok()) return cp.status();
    stream_ << std::make_tuple(first, last, PgTime(cp->signed_at), cp->key_id,
                               controller::FormatCheckpointEvents(cp->events), cp->signature);
    ++written_;
    return absl::OkStatus();
  }
  void Complete() { stream_.complete(); }
  uint64_t written() const { return written_; }

  // timestamptz as COPY reads it.
  static std::string PgTime(absl::Time t) {
    return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
  }

 private:
  const controller::AuditSigner& signer_;
  pqxx::stream_to stream_;
  uint64_t written_ = 0;
};

long StatusKiB(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

}  // namespace

AuditEvent SyntheticAuditEvent(uint64_t sequence, absl::Time at, const std::string& prev_hash) {
  AuditEvent e;
  e.sequence = sequence;
  e.at = at;
  e.actor = absl::StrCat("token:ops-", sequence % 7);
  switch (sequence % 10) {
    case 6:
    case 7:
      e.action = "grant.add";
      e.target = absl::StrCat(sequence);
      e.after_json = GrantJson(sequence);
      break;
    case 8:
      e.action = "key.revoke";
      e.target = absl::StrCat("SHA256:", Base64Text(sequence, 43));
      e.before_json = KeyJson(sequence, at - absl::Hours(100), "active");
      e.after_json = KeyJson(sequence, at - absl::Hours(100), "revoked");
      break;
    case 9:
      e.action = "host.enroll";
      e.actor = absl::StrCat("host:host-", sequence % 100000, ".example.internal");
      e.target = absl::StrCat("host-", sequence % 100000, ".example.internal");
      e.after_json = HostJson(sequence, at);
      break;
    default:
      e.action = "key.add";
      e.target = absl::StrCat("person-", sequence % 5000);
      e.after_json = KeyJson(sequence, at, "active");
      break;
  }
  e.prev_hash = prev_hash;
  e.hash = controller::AuditEventHash(e);
  return e;
}

absl::StatusOr<AuditFillResult> FillAuditLog(const std::string& url,
                                             const AuditFillOptions& options) {
  if (options.events_per_checkpoint > 0 && options.signer == nullptr) {
    return absl::InvalidArgumentError("checkpoints need a signer");
  }
  AuditFillResult result;
  try {
    // COPY holds its connection: the checkpoints go through a second one.
    pqxx::connection event_conn(url);
    pqxx::connection checkpoint_conn(url);
    pqxx::work event_txn(event_conn);
    pqxx::work checkpoint_txn(checkpoint_conn);
    pqxx::stream_to events(
        event_txn, "audit_events",
        std::vector<std::string>{"seq", "at", "actor", "action", "target", "before_json",
                                 "after_json", "prev_hash", "hash"});
    std::unique_ptr<CheckpointWriter> checkpoints;
    if (options.events_per_checkpoint > 0) {
      checkpoints = std::make_unique<CheckpointWriter>(checkpoint_txn, *options.signer);
    }
    controller::CheckpointEvents batch;
    std::string prev_hash;
    uint64_t sequence = 0;
    for (uint64_t i = 0; i < options.events; ++i) {
      ++sequence;
      if (options.gap_every > 0 && sequence % options.gap_every == 0) ++sequence;
      const absl::Time at = options.start + absl::Milliseconds(10 * static_cast<int64_t>(i));
      AuditEvent e = SyntheticAuditEvent(sequence, at, prev_hash);
      events << std::make_tuple(static_cast<int64_t>(e.sequence), CheckpointWriter::PgTime(e.at),
                                e.actor, e.action, e.target, e.before_json, e.after_json,
                                e.prev_hash, e.hash);
      result.payload_bytes += e.actor.size() + e.action.size() + e.target.size() +
                              e.before_json.size() + e.after_json.size();
      prev_hash = std::move(e.hash);
      if (checkpoints == nullptr) continue;
      batch.emplace_back(sequence, prev_hash);
      if (batch.size() == options.events_per_checkpoint || i + 1 == options.events) {
        if (absl::Status s = checkpoints->Write(std::move(batch), at); !s.ok()) return s;
        batch.clear();
      }
    }
    events.complete();
    if (checkpoints != nullptr) {
      checkpoints->Complete();
      result.checkpoints = checkpoints->written();
    }
    event_txn.exec(absl::StrCat("SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), ",
                                sequence == 0 ? 1 : sequence, ", ",
                                sequence == 0 ? "false" : "true", ")"));
    event_txn.commit();
    checkpoint_txn.commit();
    pqxx::nontransaction analyze(event_conn);
    analyze.exec0("ANALYZE audit_events");
    analyze.exec0("ANALYZE audit_checkpoints");
    result.events = options.events;
    result.last_sequence = sequence;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("filling the audit log: ", e.what()));
  }
  return result;
}

long CurrentRssKiB() {
  return StatusKiB("VmRSS");
}
long PeakRssKiB() {
  return StatusKiB("VmHWM");
}

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace keyfleet::testing
