#include "controller/record_json.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/ssh_key_type.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

using nlohmann::json;

constexpr char kTimeFormat[] = "%Y-%m-%d%ET%H:%M:%E6SZ";

absl::Status Malformed(absl::string_view what, const std::exception& e) {
  return absl::DataLossError(
      absl::StrCat("stored ", what, " record is malformed (", e.what(),
                   "); the database was written by a different keyfleet version"));
}

json OptionalTime(const std::optional<absl::Time>& t) {
  return t ? json(FormatRecordTime(*t)) : json(nullptr);
}

absl::StatusOr<std::optional<absl::Time>> GetOptionalTime(const json& j, const char* field) {
  const json& v = j.at(field);
  if (v.is_null()) return std::optional<absl::Time>();
  KF_ASSIGN_OR_RETURN(absl::Time t, ParseRecordTime(v.get<std::string>()));
  return std::optional<absl::Time>(t);
}

// An integer field in [min, max]. nlohmann's own get<> converts floats with an unchecked cast.
template <typename T>
absl::StatusOr<T> GetInt(const json& j, const char* field) {
  const json& v = j.at(field);
  bool in_range = false;
  if (v.is_number_unsigned()) {
    in_range = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  } else if (v.is_number_integer()) {
    const int64_t n = v.get<int64_t>();
    in_range =
        n >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
        (n < 0 || static_cast<uint64_t>(n) <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
  }
  if (!in_range) {
    return absl::DataLossError(absl::StrCat("stored field ", field, " is not an integer in range"));
  }
  return static_cast<T>(v.get<int64_t>());
}

absl::StatusOr<absl::Time> GetTime(const json& j, const char* field) {
  return ParseRecordTime(j.at(field).get<std::string>());
}

template <typename T, typename Parse>
absl::StatusOr<T> GetEnum(const json& j, const char* field, Parse parse) {
  std::string name = j.at(field).get<std::string>();
  std::optional<T> value = parse(name);
  if (!value) return absl::DataLossError(absl::StrCat("unknown ", field, " \"", name, "\""));
  return *value;
}

// Runs `parse` on the parsed document and turns JSON exceptions into DATA_LOSS.
template <typename T, typename Fn>
absl::StatusOr<T> ParseRecord(absl::string_view what, const std::string& text, Fn parse) {
  try {
    return parse(json::parse(text));
  } catch (const json::exception& e) {
    return Malformed(what, e);
  }
}

}  // namespace

std::string FormatRecordTime(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseRecordTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(kTimeFormat, text, absl::UTCTimeZone(), &t, &err)) {
    return absl::DataLossError(absl::StrCat("bad stored time \"", text, "\": ", err));
  }
  // Only the exact form FormatRecordTime writes: no extra digits, no other spellings.
  if (FormatRecordTime(t) != text) {
    return absl::DataLossError(absl::StrCat("stored time \"", text, "\" is not in canonical form"));
  }
  return t;
}

absl::Time TruncateToMicros(absl::Time t) {
  return absl::FromUnixMicros(absl::ToUnixMicros(t));
}

std::string PrincipalToJson(const PrincipalRecord& p) {
  return json{{"name", p.name},
              {"kind", PrincipalKindName(p.kind)},
              {"email", p.email},
              {"disabled", p.disabled},
              {"created_at", FormatRecordTime(p.created_at)}}
      .dump();
}

absl::StatusOr<PrincipalRecord> PrincipalFromJson(const std::string& text) {
  return ParseRecord<PrincipalRecord>(
      "principal", text, [](const json& j) -> absl::StatusOr<PrincipalRecord> {
        PrincipalRecord p;
        p.name = j.at("name").get<std::string>();
        KF_ASSIGN_OR_RETURN(p.kind, GetEnum<PrincipalKind>(j, "kind", ParsePrincipalKind));
        p.email = j.at("email").get<std::string>();
        p.disabled = j.at("disabled").get<bool>();
        KF_ASSIGN_OR_RETURN(p.created_at, GetTime(j, "created_at"));
        return p;
      });
}

static json KeyToObject(const KeyRecord& k) {
  json j{{"fingerprint", k.fingerprint},
         {"principal", k.principal},
         {"type", k.type},
         {"bits", k.bits},
         {"public_key", k.public_key},
         {"comment", k.comment},
         {"label", k.label},
         {"created_at", FormatRecordTime(k.created_at)},
         {"expires_at", FormatRecordTime(k.expires_at)},
         {"state", KeyStateName(k.state)},
         {"successor_fingerprint", k.successor_fingerprint},
         {"source", KeySourceName(k.source)},
         {"revocation_reason", k.revocation_reason},
         {"revoked_at", OptionalTime(k.revoked_at)}};
  // Absent unless set, so keys stored and changes written before the flag read back unchanged.
  if (k.revocation_ends_sessions) j["revocation_ends_sessions"] = true;
  return j;
}

std::string KeyToJson(const KeyRecord& k) {
  return KeyToObject(k).dump();
}

static absl::StatusOr<KeyRecord> KeyFromObject(const json& j) {
  KeyRecord k;
  k.fingerprint = j.at("fingerprint").get<std::string>();
  k.principal = j.at("principal").get<std::string>();
  k.type = j.at("type").get<std::string>();
  KF_ASSIGN_OR_RETURN(k.bits, GetInt<uint32_t>(j, "bits"));
  k.public_key = j.at("public_key").get<std::string>();
  k.comment = j.at("comment").get<std::string>();
  k.label = j.at("label").get<std::string>();
  KF_ASSIGN_OR_RETURN(k.created_at, GetTime(j, "created_at"));
  KF_ASSIGN_OR_RETURN(k.expires_at, GetTime(j, "expires_at"));
  KF_ASSIGN_OR_RETURN(k.state, GetEnum<KeyState>(j, "state", ParseKeyState));
  k.successor_fingerprint = j.at("successor_fingerprint").get<std::string>();
  KF_ASSIGN_OR_RETURN(k.source, GetEnum<KeySource>(j, "source", ParseKeySource));
  k.revocation_reason = j.at("revocation_reason").get<std::string>();
  KF_ASSIGN_OR_RETURN(k.revoked_at, GetOptionalTime(j, "revoked_at"));
  if (j.contains("revocation_ends_sessions")) {
    k.revocation_ends_sessions = j.at("revocation_ends_sessions").get<bool>();
  }
  return k;
}

absl::StatusOr<KeyRecord> KeyFromJson(const std::string& text) {
  return ParseRecord<KeyRecord>("key", text, KeyFromObject);
}

// What every key of a batch shares (IsKeyBatch): written once, in the change and the audit.
static json KeyBatchShared(const std::vector<KeyRecord>& keys) {
  json out = json::object();
  if (keys.empty()) return out;
  const KeyRecord& first = keys.front();
  out["principal"] = first.principal;
  out["label"] = first.label;
  out["source"] = KeySourceName(first.source);
  out["created_at"] = FormatRecordTime(first.created_at);
  return out;
}

std::string KeysToJson(const std::vector<KeyRecord>& keys) {
  // What a batch shares is written once; each key adds only its own fields.
  json out = KeyBatchShared(keys);
  json list = json::array();
  std::string expires_text;
  absl::Time expires_formatted = absl::InfinitePast();
  for (const KeyRecord& k : keys) {
    if (k.expires_at != expires_formatted) {  // formatting a time costs more than the rest
      expires_formatted = k.expires_at;
      expires_text = FormatRecordTime(k.expires_at);
    }
    list.push_back(json::array({k.fingerprint, k.type, k.bits, k.public_key, k.comment,
                                expires_text}));
  }
  out["keys"] = std::move(list);
  return out.dump();
}

absl::StatusOr<std::vector<KeyRecord>> KeysFromJson(const std::string& text) {
  return ParseRecord<std::vector<KeyRecord>>(
      "keys", text, [](const json& j) -> absl::StatusOr<std::vector<KeyRecord>> {
        KeyRecord shared;
        shared.principal = j.at("principal").get<std::string>();
        shared.label = j.at("label").get<std::string>();
        KF_ASSIGN_OR_RETURN(shared.source, GetEnum<KeySource>(j, "source", ParseKeySource));
        KF_ASSIGN_OR_RETURN(shared.created_at, GetTime(j, "created_at"));
        shared.state = KeyState::kActive;
        const json& list = j.at("keys");
        if (!list.is_array()) return absl::DataLossError("a key batch's keys must be an array");
        std::vector<KeyRecord> keys;
        keys.reserve(list.size());
        std::string last_expires;
        absl::Time expires;
        for (const json& k : list) {
          if (!k.is_array() || k.size() != 6) {
            return absl::DataLossError("a key batch's key must be [fingerprint, type, bits, "
                                       "public_key, comment, expires_at]");
          }
          KeyRecord key = shared;
          key.fingerprint = k[0].get<std::string>();
          key.type = k[1].get<std::string>();
          if (!k[2].is_number_unsigned() || k[2].get<uint64_t>() > UINT32_MAX) {
            return absl::DataLossError("a key batch's key has bad bits");
          }
          key.bits = k[2].get<uint32_t>();
          key.public_key = k[3].get<std::string>();
          key.comment = k[4].get<std::string>();
          const std::string& expires_text = k[5].get_ref<const std::string&>();
          if (expires_text != last_expires) {
            KF_ASSIGN_OR_RETURN(expires, ParseRecordTime(expires_text));
            last_expires = expires_text;
          }
          key.expires_at = expires;
          keys.push_back(std::move(key));
        }
        return keys;
      });
}

std::string KeyBatchAuditJson(const std::vector<KeyRecord>& keys) {
  json out = KeyBatchShared(keys);
  out["count"] = keys.size();
  // One expiry for the batch when the keys share it (the usual case); else each key's own.
  const bool one_expiry =
      std::all_of(keys.begin(), keys.end(),
                  [&](const KeyRecord& k) { return k.expires_at == keys.front().expires_at; });
  if (!keys.empty() && one_expiry) out["expires_at"] = FormatRecordTime(keys.front().expires_at);
  json list = json::array();
  for (const KeyRecord& k : keys) {
    json entry = {{"fingerprint", k.fingerprint}, {"type", k.type}};
    if (!one_expiry) entry["expires_at"] = FormatRecordTime(k.expires_at);
    list.push_back(std::move(entry));
  }
  out["keys"] = std::move(list);
  return out.dump();
}

std::string LabelsToJson(const Labels& labels) {
  return json(labels).dump();
}

absl::StatusOr<Labels> LabelsFromJson(const std::string& text) {
  return ParseRecord<Labels>(
      "labels", text, [](const json& j) -> absl::StatusOr<Labels> { return j.get<Labels>(); });
}

std::string GrantToJson(const GrantRecord& g) {
  return json{{"id", g.id},
              {"principal", g.principal},
              {"key_fingerprint", g.key_fingerprint},
              {"labels", g.hosts.labels},
              {"hostname_glob", g.hosts.hostname_glob},
              {"account", g.account},
              {"options", g.options},
              {"expires_at", OptionalTime(g.expires_at)},
              {"allow_root", g.allow_root},
              {"created_at", FormatRecordTime(g.created_at)}}
      .dump();
}

absl::StatusOr<GrantRecord> GrantFromJson(const std::string& text) {
  return ParseRecord<GrantRecord>("grant", text, [](const json& j) -> absl::StatusOr<GrantRecord> {
    GrantRecord g;
    KF_ASSIGN_OR_RETURN(g.id, GetInt<int64_t>(j, "id"));
    g.principal = j.at("principal").get<std::string>();
    g.key_fingerprint = j.at("key_fingerprint").get<std::string>();
    g.hosts.labels = j.at("labels").get<Labels>();
    g.hosts.hostname_glob = j.at("hostname_glob").get<std::string>();
    g.account = j.at("account").get<std::string>();
    g.options = j.at("options").get<std::string>();
    KF_ASSIGN_OR_RETURN(g.expires_at, GetOptionalTime(j, "expires_at"));
    g.allow_root = j.at("allow_root").get<bool>();
    KF_ASSIGN_OR_RETURN(g.created_at, GetTime(j, "created_at"));
    return g;
  });
}

std::string HostToJson(const HostRecord& h) {
  json j{{"hostname", h.hostname},
         {"labels", h.labels},
         {"first_seen", FormatRecordTime(h.first_seen)},
         {"enrollment_id", h.enrollment_id}};
  if (h.enrolled_at) j["enrolled_at"] = FormatRecordTime(*h.enrolled_at);
  if (h.certificate_expires) j["certificate_expires"] = FormatRecordTime(*h.certificate_expires);
  return j.dump();
}

absl::StatusOr<HostRecord> HostFromJson(const std::string& text) {
  return ParseRecord<HostRecord>("host", text, [](const json& j) -> absl::StatusOr<HostRecord> {
    HostRecord h;
    h.hostname = j.at("hostname").get<std::string>();
    h.labels = j.at("labels").get<Labels>();
    KF_ASSIGN_OR_RETURN(h.first_seen, GetTime(j, "first_seen"));
    h.last_seen = h.first_seen;
    // Feed entries written before enrollment existed have none of these.
    if (j.contains("enrollment_id")) h.enrollment_id = j.at("enrollment_id").get<std::string>();
    if (j.contains("enrolled_at")) {
      KF_ASSIGN_OR_RETURN(h.enrolled_at, GetTime(j, "enrolled_at"));
    }
    if (j.contains("certificate_expires")) {
      KF_ASSIGN_OR_RETURN(h.certificate_expires, GetTime(j, "certificate_expires"));
    }
    return h;
  });
}

std::string JoinTokenToJson(const JoinTokenRecord& t) {
  json j{{"id", t.id},
         {"hostname", t.hostname},
         {"labels", t.labels},
         {"created_at", FormatRecordTime(t.created_at)},
         {"expires_at", FormatRecordTime(t.expires_at)},
         {"uses_allowed", t.uses_allowed},
         {"uses", t.uses},
         {"created_by", t.created_by}};
  if (t.revoked_at) j["revoked_at"] = FormatRecordTime(*t.revoked_at);
  if (!t.creator_scope.empty()) j["creator_scope"] = t.creator_scope;
  return j.dump();
}

std::string ApiCredentialToJson(const ApiCredentialRecord& c) {
  json j{{"id", c.id},
         {"name", c.name},
         {"kind", CredentialKindName(c.kind)},
         {"role", RoleName(c.role)},
         {"created_at", FormatRecordTime(c.created_at)},
         {"created_by", c.created_by}};
  if (!c.principal.empty()) j["principal"] = c.principal;
  if (!c.host_scope.empty()) j["host_scope"] = c.host_scope;
  if (!c.certificate_serial.empty()) j["certificate_serial"] = c.certificate_serial;
  if (c.expires_at) j["expires_at"] = FormatRecordTime(*c.expires_at);
  if (c.revoked_at) j["revoked_at"] = FormatRecordTime(*c.revoked_at);
  return j.dump();
}

std::string ApiCredentialStateJson(const ApiCredentialRecord& c) {
  json j = json::parse(ApiCredentialToJson(c));
  j["secret_hash"] = c.secret_hash;
  return j.dump();
}

absl::StatusOr<ApiCredentialRecord> ApiCredentialFromJson(const std::string& text) {
  return ParseRecord<ApiCredentialRecord>(
      "credential", text, [](const json& j) -> absl::StatusOr<ApiCredentialRecord> {
        ApiCredentialRecord c;
        c.id = j.at("id").get<std::string>();
        c.name = j.at("name").get<std::string>();
        KF_ASSIGN_OR_RETURN(c.kind, GetEnum<CredentialKind>(j, "kind", ParseCredentialKind));
        KF_ASSIGN_OR_RETURN(c.role, GetEnum<Role>(j, "role", ParseRole));
        KF_ASSIGN_OR_RETURN(c.created_at, GetTime(j, "created_at"));
        c.created_by = j.at("created_by").get<std::string>();
        if (j.contains("principal")) c.principal = j.at("principal").get<std::string>();
        if (j.contains("host_scope")) c.host_scope = j.at("host_scope").get<Labels>();
        if (j.contains("certificate_serial")) {
          c.certificate_serial = j.at("certificate_serial").get<std::string>();
        }
        if (j.contains("expires_at")) {
          KF_ASSIGN_OR_RETURN(c.expires_at, GetTime(j, "expires_at"));
        }
        if (j.contains("revoked_at")) {
          KF_ASSIGN_OR_RETURN(c.revoked_at, GetTime(j, "revoked_at"));
        }
        c.secret_hash = j.at("secret_hash").get<std::string>();
        return c;
      });
}

namespace {

json RotationRuleToJson(const RotationRule& r) {
  return json{{"max_key_age_seconds", absl::ToInt64Seconds(r.max_key_age)},
              {"warning_window_seconds", absl::ToInt64Seconds(r.warning_window)},
              {"rotation_overlap_seconds", absl::ToInt64Seconds(r.rotation_overlap)}};
}

absl::StatusOr<RotationRule> RotationRuleFromJson(const json& j) {
  KF_ASSIGN_OR_RETURN(int64_t max_age, GetInt<int64_t>(j, "max_key_age_seconds"));
  KF_ASSIGN_OR_RETURN(int64_t warning, GetInt<int64_t>(j, "warning_window_seconds"));
  KF_ASSIGN_OR_RETURN(int64_t overlap, GetInt<int64_t>(j, "rotation_overlap_seconds"));
  return RotationRule{absl::Seconds(max_age), absl::Seconds(warning), absl::Seconds(overlap)};
}

}  // namespace

std::string PolicyToJson(const PolicyRecord& p) {
  std::vector<std::string> types;
  for (KeyType t : p.key_policy.allowed_types) types.emplace_back(KeyTypeName(t));
  json j = RotationRuleToJson(p.DefaultRule());
  j["allowed_key_types"] = types;
  j["min_rsa_bits"] = p.key_policy.min_rsa_bits;
  j["unmanaged_keys"] = UnmanagedKeysModeName(p.unmanaged_keys);
  // Absent (not null) when a kind follows the default, so policies stored before per-kind rules
  // read back unchanged.
  if (p.person_rule) j["person"] = RotationRuleToJson(*p.person_rule);
  if (p.service_rule) j["service"] = RotationRuleToJson(*p.service_rule);
  if (p.end_sessions_on_revoke) j["end_sessions_on_revoke"] = true;  // absent: false, as before
  return j.dump();
}

absl::StatusOr<PolicyRecord> PolicyFromJson(const std::string& text) {
  return ParseRecord<PolicyRecord>(
      "policy", text, [](const json& j) -> absl::StatusOr<PolicyRecord> {
        PolicyRecord p;
        KF_ASSIGN_OR_RETURN(RotationRule rule, RotationRuleFromJson(j));
        p.max_key_age = rule.max_key_age;
        p.warning_window = rule.warning_window;
        p.rotation_overlap = rule.rotation_overlap;
        if (j.contains("person")) {
          KF_ASSIGN_OR_RETURN(p.person_rule, RotationRuleFromJson(j.at("person")));
        }
        if (j.contains("service")) {
          KF_ASSIGN_OR_RETURN(p.service_rule, RotationRuleFromJson(j.at("service")));
        }
        p.key_policy.allowed_types.clear();
        for (const std::string& name : j.at("allowed_key_types").get<std::vector<std::string>>()) {
          std::optional<KeyType> type = KeyTypeFromName(name);
          if (!type) return absl::DataLossError(absl::StrCat("unknown stored key type ", name));
          p.key_policy.allowed_types.push_back(*type);
        }
        KF_ASSIGN_OR_RETURN(p.key_policy.min_rsa_bits, GetInt<uint32_t>(j, "min_rsa_bits"));
        KF_ASSIGN_OR_RETURN(p.unmanaged_keys, GetEnum<UnmanagedKeysMode>(j, "unmanaged_keys",
                                                                         ParseUnmanagedKeysMode));
        if (j.contains("end_sessions_on_revoke")) {
          p.end_sessions_on_revoke = j.at("end_sessions_on_revoke").get<bool>();
        }
        return p;
      });
}

}  // namespace keyfleet::controller
