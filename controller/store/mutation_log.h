// What one mutation records besides its rows: audit entries and change-feed entries. Stores
// build these with the helpers here so the fake and the real store log exactly alike.
#pragma once

#include <string>
#include <vector>

#include "controller/audit_chain.h"
#include "controller/model.h"
#include "controller/record_json.h"

namespace keyfleet::controller {

struct AuditEntry {
  std::string action;
  std::string target;
  std::string before_json;
  std::string after_json;
};

struct EntityChange {
  EntityKind entity;
  std::string key;
  std::string after_json;  // "" for a deletion
};

struct MutationLog {
  std::vector<AuditEntry> audit;
  std::vector<EntityChange> changes;

  // Records `action` on `target` with before/after JSON ("" for none), and the change of the
  // entity to `after_json`.
  void Record(absl::string_view action, EntityKind entity, const std::string& key,
              const std::string& before_json, const std::string& after_json) {
    audit.push_back({std::string(action), key, before_json, after_json});
    changes.push_back({entity, key, after_json});
  }
  // An audit entry with no change (nothing desired depends on it: join tokens).
  void AuditOnly(absl::string_view action, const std::string& target,
                 const std::string& before_json, const std::string& after_json) {
    audit.push_back({std::string(action), target, before_json, after_json});
  }
};

// Keys added together (one request, one principal, new, active, sharing label, source and
// times) of more than one are a batch: one change (kKeyBatch) and one audit event
// ("keys.add"), however many.
inline bool IsKeyBatch(const std::vector<KeyRecord>& keys) {
  if (keys.size() < 2) return false;
  const KeyRecord& first = keys.front();
  for (const KeyRecord& k : keys) {
    if (k.principal != first.principal || k.label != first.label || k.source != first.source ||
        k.created_at != first.created_at || k.state != KeyState::kActive ||
        !k.successor_fingerprint.empty() || k.revoked_at) {
      return false;
    }
  }
  return true;
}

inline MutationLog KeyBatchLog(const std::vector<KeyRecord>& keys) {
  MutationLog log;
  log.AuditOnly("keys.add", keys.front().principal, "", KeyBatchAuditJson(keys));
  log.changes.push_back({EntityKind::kKeyBatch, keys.front().principal, KeysToJson(keys)});
  return log;
}

// The audit entries of a credential's creation and revocation, and their changes (the replicas
// authenticate from memory), alike in every store.
inline MutationLog CredentialCreatedLog(const ApiCredentialRecord& c) {
  MutationLog log;
  log.AuditOnly(c.kind == CredentialKind::kToken ? "token.create" : "admin.certificate.issue",
                c.name, "", ApiCredentialToJson(c));
  log.changes.push_back({EntityKind::kCredential, c.id, ApiCredentialStateJson(c)});
  return log;
}
inline MutationLog CredentialRevokedLog(const ApiCredentialRecord& before,
                                        const ApiCredentialRecord& after) {
  MutationLog log;
  log.AuditOnly(before.kind == CredentialKind::kToken ? "token.revoke" : "admin.certificate.revoke",
                before.name, ApiCredentialToJson(before), ApiCredentialToJson(after));
  log.changes.push_back({EntityKind::kCredential, after.id, ApiCredentialStateJson(after)});
  return log;
}

// The audit event for `entry`, numbered `sequence`, chained to `prev_hash` ("" for the first
// event), with its hash computed: how every store appends to the chain.
inline AuditEvent ChainAuditEvent(uint64_t sequence, const MutationContext& ctx,
                                  const AuditEntry& entry, const std::string& prev_hash) {
  AuditEvent event;
  event.sequence = sequence;
  event.at = ctx.at;
  event.actor = ctx.actor;
  event.action = entry.action;
  event.target = entry.target;
  event.before_json = entry.before_json;
  event.after_json = entry.after_json;
  event.prev_hash = prev_hash;
  event.hash = AuditEventHash(event);
  return event;
}

}  // namespace keyfleet::controller
