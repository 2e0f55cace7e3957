#include "controller/notification_events.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/duration_text.h"
#include "common/sha256.h"
#include "controller/record_json.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

using json = nlohmann::json;

json ParseOrEmpty(const std::string& text) {
  if (text.empty()) return json::object();
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json::object() : j;
}

std::string KeyName(const json& key) {
  std::string name = key.value("fingerprint", "");
  const std::string label = key.value("label", "");
  if (!label.empty()) absl::StrAppend(&name, " (", label, ")");
  return name;
}

OutboxEntry KeyEvent(const std::string& event, absl::Time at, const json& key,
                     const std::string& subject, const std::string& text, json payload) {
  OutboxEntry e;
  e.event = event;
  e.at = at;
  e.principal = key.value("principal", "");
  e.subject = subject;
  e.text = text;
  payload["key"] = key;
  e.payload_json = payload.dump();
  return e;
}

// One event for a bulk add, naming at most the first 100 keys.
OutboxEntry KeysAddedEvent(const json& batch, const MutationContext& ctx) {
  constexpr size_t kListed = 100;
  const std::string principal = batch.value("principal", "");
  const size_t count = batch.value("count", static_cast<size_t>(0));
  json listed = json::array();
  std::string names;
  if (batch.contains("keys") && batch["keys"].is_array()) {
    for (const json& k : batch["keys"]) {
      if (listed.size() == kListed) break;
      listed.push_back(k);
      absl::StrAppend(&names, "  ", k.value("fingerprint", ""), "\n");
    }
  }
  OutboxEntry e;
  e.event = "keys.added";
  e.at = ctx.at;
  e.principal = principal;
  e.subject = absl::StrCat("keyfleet: ", count, " keys were added for ", principal);
  e.text = absl::StrCat(count, " keys were added for ", principal, " by ", ctx.actor,
                        ".\nThey expire at ", batch.value("expires_at", ""), ".\n", names,
                        count > listed.size() ? "  …\n" : "",
                        "\nIf you did not expect this, tell your security team.\n");
  json payload = {{"actor", ctx.actor},
                  {"at", FormatRecordTime(ctx.at)},
                  {"principal", principal},
                  {"count", count},
                  {"label", batch.value("label", "")},
                  {"expires_at", batch.value("expires_at", "")},
                  {"keys", listed},
                  {"keys_truncated", count > listed.size()}};
  e.payload_json = payload.dump();
  return e;
}

}  // namespace

std::vector<OutboxEntry> NotificationsForMutation(const std::vector<AuditEntry>& entries,
                                                  const MutationContext& ctx) {
  // A rotation logs key.add for the successor and key.rotate for the old key: one event.
  std::set<std::string> successors;
  for (const AuditEntry& a : entries) {
    if (a.action == "key.rotate") {
      successors.insert(ParseOrEmpty(a.after_json).value("successor_fingerprint", ""));
    }
  }
  std::vector<OutboxEntry> out;
  for (const AuditEntry& a : entries) {
    // Every mutation passes here, under the inventory lock: only key events are parsed.
    if (a.action == "keys.add") {
      out.push_back(KeysAddedEvent(ParseOrEmpty(a.after_json), ctx));
      continue;
    }
    if (a.action != "key.add" && a.action != "key.rotate" && a.action != "key.revoke") continue;
    const json after = ParseOrEmpty(a.after_json);
    const json base = {{"actor", ctx.actor}, {"at", FormatRecordTime(ctx.at)}};
    if (a.action == "key.add" && successors.count(a.target) == 0) {
      out.push_back(KeyEvent(
          "key.added", ctx.at, after,
          absl::StrCat("keyfleet: a key was added for ", after.value("principal", "")),
          absl::StrCat("Key ", KeyName(after), " was added for ", after.value("principal", ""),
                       " by ", ctx.actor, ".\nIt expires at ", after.value("expires_at", ""),
                       ".\n\nIf you did not expect this, tell your security team.\n"),
          base));
    } else if (a.action == "key.rotate") {
      json payload = base;
      payload["successor_fingerprint"] = after.value("successor_fingerprint", "");
      out.push_back(
          KeyEvent("key.rotated", ctx.at, after,
                   absl::StrCat("keyfleet: key ", after.value("fingerprint", ""), " was rotated"),
                   absl::StrCat("Key ", KeyName(after), " of ", after.value("principal", ""),
                                " was replaced by ", after.value("successor_fingerprint", ""),
                                " (by ", ctx.actor, ").\nThe old key keeps working until ",
                                after.value("expires_at", ""), "; use the new one from now on.\n"),
                   std::move(payload)));
    } else if (a.action == "key.revoke") {
      json payload = base;
      payload["reason"] = after.value("revocation_reason", "");
      out.push_back(KeyEvent(
          "key.revoked", ctx.at, after,
          absl::StrCat("keyfleet: key ", after.value("fingerprint", ""), " was revoked"),
          absl::StrCat("Key ", KeyName(after), " of ", after.value("principal", ""),
                       " was revoked by ", ctx.actor, ": ", after.value("revocation_reason", ""),
                       ".\nIt is being removed from every host and can never be added again.\n"),
          std::move(payload)));
    }
  }
  return out;
}

std::vector<OutboxEntry> NotificationsForScan(const FleetScan& scan) {
  std::vector<OutboxEntry> out;
  const absl::Time now = scan.now;
  for (const ScannedKey& k : scan.keys) {
    const KeyRecord& key = k.key;
    if (key.state != KeyState::kActive || key.expires_at <= now - absl::Hours(24 * 30)) continue;
    const json kj = ParseOrEmpty(KeyToJson(key));
    const absl::Time end = std::min(key.expires_at, key.created_at + k.rule.max_key_age);
    const std::string ends = FormatRecordTime(end);
    if (end <= now) {
      OutboxEntry e = KeyEvent(
          "key.overdue", now, kj,
          absl::StrCat("keyfleet: key ", key.fingerprint, " is overdue for rotation"),
          absl::StrCat("Key ", KeyName(kj), " of ", key.principal, " reached the end of its life (",
                       ends, ") without being rotated.\nRotate it: keyfleet key rotate ",
                       key.fingerprint, " NEW_KEY.pub\n"),
          {{"ends_at", ends}});
      e.dedupe_key = absl::StrCat("key.overdue:", key.fingerprint);
      out.push_back(std::move(e));
    } else if (end <= now + k.rule.warning_window) {
      OutboxEntry e = KeyEvent(
          "key.expiring", now, kj,
          absl::StrCat("keyfleet: key ", key.fingerprint, " expires ", ends),
          absl::StrCat("Key ", KeyName(kj), " of ", key.principal, " must be rotated before ", ends,
                       " (", FormatDurationText(absl::Floor(end - now, absl::Hours(1))),
                       " from now).\nRotate it: keyfleet key rotate ", key.fingerprint,
                       " NEW_KEY.pub\n"),
          {{"ends_at", ends}});
      // Once per warning window: a key whose end moves (a new policy) is told again.
      e.dedupe_key = absl::StrCat("key.expiring:", key.fingerprint, ":", absl::ToUnixSeconds(end));
      out.push_back(std::move(e));
    }
  }
  for (const ScannedHost& h : scan.hosts) {
    if (!h.drift.empty()) {
      OutboxEntry e;
      e.event = "host.drift";
      e.at = now;
      e.subject = absl::StrCat("keyfleet: drift on ", h.hostname);
      e.text = absl::StrCat("The agent on ", h.hostname, " reported:\n  ",
                            absl::StrJoin(h.drift, "\n  "), "\n");
      e.payload_json = json{{"hostname", h.hostname}, {"drift", h.drift}}.dump();
      e.dedupe_key =
          absl::StrCat("host.drift:", h.hostname, ":", Sha256Hex(absl::StrJoin(h.drift, "\n")));
      out.push_back(std::move(e));
    }
    if (h.last_seen + scan.host_stale_after < now) {
      OutboxEntry e;
      e.event = "host.not_seen";
      e.at = now;
      e.subject = absl::StrCat("keyfleet: ", h.hostname, " has not been seen since ",
                               FormatRecordTime(h.last_seen));
      e.text = absl::StrCat("The agent on ", h.hostname, " last reported at ",
                            FormatRecordTime(h.last_seen),
                            ". Revocations do not reach it until it reconnects.\n");
      e.payload_json =
          json{{"hostname", h.hostname}, {"last_seen", FormatRecordTime(h.last_seen)}}.dump();
      e.dedupe_key =
          absl::StrCat("host.not_seen:", h.hostname, ":", absl::ToUnixMicros(h.last_seen));
      out.push_back(std::move(e));
    }
  }
  if (const auto& r = scan.latest_rollout;
      r && r->at + scan.rollout_deadline <= now &&
      (!r->pending_hosts.empty() || !r->failed_hosts.empty())) {
    OutboxEntry e;
    e.event = "rollout.not_converged";
    e.at = now;
    e.subject = absl::StrCat("keyfleet: change ", r->change, " has not converged");
    e.text =
        absl::StrCat("Change ", r->change, " (", FormatRecordTime(r->at), ") is still pending on ",
                     r->pending_hosts.size(), " host(s) and failed on ", r->failed_hosts.size(),
                     ".\nSee: keyfleet rollout status ", r->change, "\n");
    e.payload_json = json{{"change", r->change},
                          {"at", FormatRecordTime(r->at)},
                          {"pending_hosts", r->pending_hosts},
                          {"failed_hosts", r->failed_hosts}}
                         .dump();
    e.dedupe_key = absl::StrCat("rollout.not_converged:", r->change);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace keyfleet::controller
