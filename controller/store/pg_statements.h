// Every SQL statement the PostgreSQL store runs, in one place. Each is prepared by name on
// every connection.
#pragma once

namespace keyfleet::controller::sql {

struct Statement {
  const char* name;
  const char* text;
};

// inventory_lock is held by every inventory mutation until it commits: mutations are
// serialized, so the audit chain is linear and change sequences become visible in order.

#define KF_KEY_COLUMNS                                                                     \
  "k.fingerprint, p.name, k.type, k.bits, k.public_key, k.comment, k.label, "              \
  "kf_us(k.created_at), kf_us(k.expires_at), k.state, k.successor_fingerprint, k.source, " \
  "k.revocation_reason, kf_us(k.revoked_at), k.revocation_ends_sessions FROM keys k "      \
  "JOIN principals p ON p.id = k.principal_id "
#define KF_GRANT_COLUMNS                                                             \
  "g.id, coalesce(p.name, ''), coalesce(g.key_fingerprint, ''), g.selector_labels, " \
  "g.hostname_glob, g.account, g.options, kf_us(g.expires_at), g.allow_root, "       \
  "kf_us(g.created_at) FROM grants g LEFT JOIN principals p ON p.id = g.principal_id "
#define KF_HOST_COLUMNS                                                                \
  "hostname, labels, kf_us(first_seen), kf_us(last_seen), applied_generation, "        \
  "applied_digest, drift, host_key_fingerprints, enrollment_id, kf_us(enrolled_at), "  \
  "kf_us(certificate_expires), failed_accounts, host_public_keys, revocations_error, " \
  "key_files FROM hosts "
#define KF_PRINCIPAL_COLUMNS "name, kind, email, disabled, kf_us(created_at), id FROM principals "

inline constexpr Statement kStatements[] = {
    {"inventory_lock", "SELECT pg_advisory_xact_lock(118086592720502)"},  // "kf-inv"
    {"audit_last", "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1"},
    {"audit_next_seq", "SELECT nextval(pg_get_serial_sequence('audit_events', 'seq'))"},
    {"audit_insert",
     "INSERT INTO audit_events (seq, at, actor, action, target, before_json, after_json, "
     "prev_hash, hash) VALUES ($1, kf_ts($2), $3, $4, $5, $6, $7, $8, $9)"},
    {"checkpoint_insert",
     "INSERT INTO audit_checkpoints (first_seq, last_seq, signed_at, key_id, events, signature) "
     "VALUES ($1, $2, kf_ts($3), $4, $5, $6)"},
    // Keyset pages, for reading the whole log in one snapshot without holding it.
    {"checkpoint_page",
     "SELECT id, kf_us(signed_at), key_id, events, signature FROM audit_checkpoints "
     "WHERE id > $1 ORDER BY id LIMIT $2"},
    {"checkpoint_covering",
     "SELECT id, kf_us(signed_at), key_id, events, signature FROM audit_checkpoints "
     "WHERE last_seq >= $1 AND first_seq <= $2 ORDER BY id"},
    {"checkpoint_any", "SELECT 1 FROM audit_checkpoints LIMIT 1"},
    {"audit_page",
     "SELECT seq, kf_us(at), actor, action, target, before_json, after_json, prev_hash, hash "
     "FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"},
    {"audit_list",
     "SELECT seq, kf_us(at), actor, action, target, before_json, after_json, prev_hash, hash "
     "FROM audit_events WHERE seq > $1 AND at >= kf_ts($2) ORDER BY seq LIMIT $3"},
    {"audit_list_newest",
     "SELECT seq, kf_us(at), actor, action, target, before_json, after_json, prev_hash, hash "
     "FROM audit_events WHERE seq < $1 AND at >= kf_ts($2) ORDER BY seq DESC LIMIT $3"},
    {"change_insert",
     "INSERT INTO changes (at, entity, entity_key, after_json) VALUES (kf_ts($1), $2, $3, $4) "
     "RETURNING seq"},
    {"change_notify", "SELECT pg_notify('keyfleet_changes', $1)"},
    {"changes_since",
     "SELECT seq, entity, entity_key, after_json FROM changes WHERE seq > $1 ORDER BY seq "
     "LIMIT $2"},
    {"changes_max", "SELECT coalesce(max(seq), 0) FROM changes"},
    {"database_epoch", "SELECT keyfleet_database_epoch()"},
    {"request_outcome_seen", "SELECT 1 FROM request_outcomes WHERE request_id = $1"},
    {"request_outcome_insert",
     "INSERT INTO request_outcomes (request_id, actor, method, request_sha256, change, "
     "created_at) VALUES ($1, $2, $3, $4, $5, kf_ts($6))"},
    {"request_outcome_purge", "DELETE FROM request_outcomes WHERE created_at < kf_ts($1)"},
    {"request_outcome_get",
     "SELECT request_id, actor, method, request_sha256, change, encode(response, 'base64'), "
     "secret_withheld, kf_us(created_at) FROM request_outcomes WHERE request_id = $1"},
    {"request_outcome_respond",
     "UPDATE request_outcomes SET response = decode($2, 'base64'), secret_withheld = $3 "
     "WHERE request_id = $1 AND response IS NULL"},
    {"database_identity_renew",
     "UPDATE database_identity SET id = gen_random_uuid(), renewed_at = kf_ts($1)"},

    {"principal_all", "SELECT " KF_PRINCIPAL_COLUMNS "ORDER BY name"},
    {"principal_by_name", "SELECT " KF_PRINCIPAL_COLUMNS "WHERE name = $1"},
    {"principal_insert",
     "INSERT INTO principals (name, kind, email, disabled, created_at) "
     "VALUES ($1, $2, $3, $4, kf_ts($5))"},
    {"principal_disable", "UPDATE principals SET disabled = true WHERE name = $1"},

    {"key_all", "SELECT " KF_KEY_COLUMNS "ORDER BY k.id"},
    {"key_by_fingerprint", "SELECT " KF_KEY_COLUMNS "WHERE k.fingerprint = $1"},
    {"key_insert",
     "INSERT INTO keys (fingerprint, principal_id, type, bits, public_key, comment, label, "
     "created_at, expires_at, state, successor_fingerprint, source) VALUES ($1, $2, $3, $4, $5, "
     "$6, $7, kf_ts($8), kf_ts($9), $10, $11, $12)"},
    {"key_set_label", "UPDATE keys SET label = $2 WHERE fingerprint = $1"},
    // A bulk add: one statement for the lot (arrays of equal length, unnested in step).
    {"key_insert_many",
     "INSERT INTO keys (fingerprint, principal_id, type, bits, public_key, comment, label, "
     "created_at, expires_at, state, successor_fingerprint, source) "
     "SELECT f, $2, t, b, pk, c, $3, timestamptz 'epoch' + $4 * interval '1 microsecond', "
     "timestamptz 'epoch' + ea * interval '1 microsecond', 'active', '', $5 "
     "FROM unnest($1::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::bigint[]) "
     "AS u(f, t, b, pk, c, ea)"},
    {"key_owner_any",
     "SELECT k.fingerprint, p.name FROM keys k JOIN principals p ON p.id = k.principal_id "
     "WHERE k.fingerprint = ANY($1::text[]) LIMIT 1"},
    {"revoked_any",
     "SELECT fingerprint, reason, kf_us(revoked_at) FROM revoked_fingerprints "
     "WHERE fingerprint = ANY($1::text[]) LIMIT 1"},
    {"key_supersede",
     "UPDATE keys SET state = 'superseded', successor_fingerprint = $2, expires_at = kf_ts($3) "
     "WHERE fingerprint = $1"},
    {"key_set_expiry", "UPDATE keys SET expires_at = kf_ts($2) WHERE fingerprint = $1"},
    {"key_delete", "DELETE FROM keys WHERE fingerprint = $1"},
    {"key_revoke",
     "UPDATE keys SET state = 'revoked', revocation_reason = $2, revoked_at = kf_ts($3), "
     "revocation_ends_sessions = $4 WHERE fingerprint = $1"},
    {"revoked_all",
     "SELECT fingerprint, ends_sessions FROM revoked_fingerprints ORDER BY fingerprint"},
    {"revoked_by_fingerprint",
     "SELECT reason, kf_us(revoked_at) FROM revoked_fingerprints WHERE fingerprint = $1"},
    {"revoked_insert",
     "INSERT INTO revoked_fingerprints (fingerprint, reason, revoked_at, revoked_by, "
     "ends_sessions) VALUES ($1, $2, kf_ts($3), $4, $5)"},

    // Last use (agents' KeyUseReports): one row per (fingerprint, host, account), an upsert
    // keeping the newest time and its address. Arrays of equal length, unnested in step; one
    // batch holds each key only once.
    {"key_uses_record",
     "INSERT INTO key_uses (fingerprint, hostname, account, last_used_at, from_address) "
     "SELECT f, h, a, timestamptz 'epoch' + t * interval '1 microsecond', addr "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) "
     "AS u(f, h, a, t, addr) "
     "ON CONFLICT (fingerprint, hostname, account) DO UPDATE SET "
     "last_used_at = excluded.last_used_at, from_address = excluded.from_address "
     "WHERE key_uses.last_used_at < excluded.last_used_at"},
    {"key_uses_of",
     "SELECT fingerprint, hostname, account, kf_us(last_used_at), from_address FROM key_uses "
     "WHERE fingerprint = $1 ORDER BY last_used_at DESC, hostname, account LIMIT $2"},
    {"key_last_uses_all",
     "SELECT fingerprint, kf_us(max(last_used_at)) FROM key_uses GROUP BY fingerprint"},
    // Sessions ended (ReportRequest.sessions_ended), summed per (fingerprint, host), for hosts
    // that exist.
    {"sessions_ended_record",
     "INSERT INTO sessions_ended (fingerprint, hostname, count, last_at) "
     "SELECT f, h, sum(c), max(timestamptz 'epoch' + t * interval '1 microsecond') "
     "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(f, h, c, t) "
     "WHERE EXISTS (SELECT 1 FROM hosts WHERE hostname = u.h) GROUP BY f, h "
     "ON CONFLICT (fingerprint, hostname) DO UPDATE SET "
     "count = sessions_ended.count + excluded.count, "
     "last_at = greatest(sessions_ended.last_at, excluded.last_at)"},
    {"sessions_ended_of",
     "SELECT fingerprint, hostname, count, kf_us(last_at) FROM sessions_ended "
     "WHERE fingerprint = $1 ORDER BY hostname LIMIT $2"},

    {"grant_all", "SELECT " KF_GRANT_COLUMNS "ORDER BY g.id"},
    {"grant_by_id", "SELECT " KF_GRANT_COLUMNS "WHERE g.id = $1"},
    {"grants_of_key", "SELECT " KF_GRANT_COLUMNS "WHERE g.key_fingerprint = $1 ORDER BY g.id"},
    {"grant_insert",
     "INSERT INTO grants (principal_id, key_fingerprint, selector_labels, hostname_glob, "
     "account, options, expires_at, allow_root, created_at) VALUES ($1, $2, $3, $4, $5, $6, "
     "kf_ts($7), $8, kf_ts($9)) RETURNING id"},
    {"grant_delete", "DELETE FROM grants WHERE id = $1"},

    {"host_all", "SELECT " KF_HOST_COLUMNS "ORDER BY hostname"},
    {"host_page", "SELECT " KF_HOST_COLUMNS "WHERE hostname > $1 ORDER BY hostname LIMIT $2"},
    {"host_by_name", "SELECT " KF_HOST_COLUMNS "WHERE hostname = $1"},
    {"host_named_no_drift",
     "SELECT hostname, labels, kf_us(first_seen), kf_us(last_seen), applied_generation, "
     "applied_digest, '[]', host_key_fingerprints, enrollment_id, kf_us(enrolled_at), "
     "kf_us(certificate_expires), failed_accounts, host_public_keys, revocations_error, "
     "key_files FROM hosts WHERE hostname = ANY($1::text[]) ORDER BY hostname"},
    {"host_observed", "SELECT observed FROM hosts WHERE hostname = $1"},
    {"host_insert",
     "INSERT INTO hosts (hostname, labels, first_seen, last_seen) "
     "VALUES ($1, $2, kf_ts($3), kf_ts($3))"},
    {"host_set_labels", "UPDATE hosts SET labels = $2, last_seen = kf_ts($3) WHERE hostname = $1"},
    // $1 is a text[] literal (pg_array.h).
    {"hosts_touch",
     "UPDATE hosts SET last_seen = greatest(last_seen, kf_ts($2)) "
     "WHERE hostname = ANY($1::text[])"},
    {"host_touch",
     "UPDATE hosts SET last_seen = greatest(last_seen, kf_ts($2)) WHERE hostname = $1"},
    // Reports may arrive out of order from different replicas: never move backwards.
    // A batch of reports as parallel arrays (pg_array.h), one statement for the whole batch.
    {"host_reports",
     "UPDATE hosts AS h SET last_seen = greatest(h.last_seen, kf_ts(r.at)), "
     "applied_generation = r.generation, applied_digest = r.digest, drift = r.drift, "
     "host_key_fingerprints = r.host_keys, failed_accounts = r.failed, "
     "observed = CASE WHEN r.observed = '' THEN h.observed ELSE r.observed END, "
     "host_public_keys = r.public_keys, revocations_error = r.revocations_error, "
     "key_files = r.key_files "
     "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], "
     "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) AS r(hostname, at, "
     "generation, digest, drift, host_keys, failed, observed, public_keys, revocations_error, "
     "key_files) "
     "WHERE h.hostname = r.hostname AND h.applied_generation <= r.generation"},

    {"host_delete", "DELETE FROM hosts WHERE hostname = $1"},
    {"host_labels_only", "UPDATE hosts SET labels = $2 WHERE hostname = $1"},
    {"host_enroll",
     "INSERT INTO hosts (hostname, labels, first_seen, last_seen, enrollment_id, enrolled_at, "
     "certificate_expires) VALUES ($1, $2, kf_ts($3), kf_ts($3), $4, kf_ts($3), kf_ts($5)) "
     "ON CONFLICT (hostname) DO UPDATE SET labels = excluded.labels, enrollment_id = "
     "excluded.enrollment_id, enrolled_at = excluded.enrolled_at, certificate_expires = "
     "excluded.certificate_expires"},
    {"host_certificate_expires",
     "UPDATE hosts SET certificate_expires = kf_ts($2) WHERE hostname = $1"},

    {"join_token_insert",
     "INSERT INTO join_tokens (id, secret_hash, hostname, labels, created_at, expires_at, "
     "uses_allowed, created_by, creator_scope) VALUES ($1, $2, $3, $4, kf_ts($5), kf_ts($6), $7, "
     "$8, $9)"},
#define KF_TOKEN_COLUMNS                                                                    \
  "id, secret_hash, hostname, labels, kf_us(created_at), kf_us(expires_at), uses_allowed, " \
  "uses, kf_us(revoked_at), created_by, creator_scope FROM join_tokens "
    {"join_token_all", "SELECT " KF_TOKEN_COLUMNS "ORDER BY created_at, id"},
    {"join_token_first_page", "SELECT " KF_TOKEN_COLUMNS "ORDER BY created_at, id LIMIT $1"},
    {"join_token_page",
     "SELECT " KF_TOKEN_COLUMNS
     "WHERE (created_at, id) > (kf_ts($1), $2) ORDER BY created_at, id LIMIT $3"},
    {"join_token_lock", "SELECT " KF_TOKEN_COLUMNS "WHERE id = $1 FOR UPDATE"},
    {"join_token_by_id", "SELECT " KF_TOKEN_COLUMNS "WHERE id = $1"},
#undef KF_TOKEN_COLUMNS
    {"join_token_use", "UPDATE join_tokens SET uses = uses + 1 WHERE id = $1"},
    {"join_token_revoke", "UPDATE join_tokens SET revoked_at = kf_ts($2) WHERE id = $1"},

#define KF_CREDENTIAL_COLUMNS                                                                 \
  "id, name, kind, role, principal, host_scope, secret_hash, certificate_serial, "            \
  "kf_us(created_at), created_by, kf_us(expires_at), kf_us(revoked_at), kf_us(last_used_at) " \
  "FROM api_credentials "
    {"credential_insert",
     "INSERT INTO api_credentials (id, name, kind, role, principal, host_scope, secret_hash, "
     "certificate_serial, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
     "$8, kf_ts($9), $10, kf_ts($11))"},
    {"credential_all", "SELECT " KF_CREDENTIAL_COLUMNS "ORDER BY created_at, id"},
    {"credential_by_id", "SELECT " KF_CREDENTIAL_COLUMNS "WHERE id = $1"},
    {"credential_live_by_name_lock",
     "SELECT " KF_CREDENTIAL_COLUMNS "WHERE name = $1 AND revoked_at IS NULL FOR UPDATE"},
    {"credential_by_id_lock", "SELECT " KF_CREDENTIAL_COLUMNS "WHERE id = $1 FOR UPDATE"},
    {"credential_name_ever_used", "SELECT 1 FROM api_credentials WHERE name = $1 LIMIT 1"},
#undef KF_CREDENTIAL_COLUMNS
    {"credential_revoke", "UPDATE api_credentials SET revoked_at = kf_ts($2) WHERE id = $1"},
    {"credential_touch",
     "UPDATE api_credentials SET last_used_at = kf_ts($2) WHERE id = $1 AND "
     "(last_used_at IS NULL OR last_used_at < kf_ts($2))"},

    {"outbox_insert",
     "INSERT INTO notification_outbox (event, at, principal, subject, body, payload, dedupe_key) "
     "VALUES ($1, kf_ts($2), $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING"},
#define KF_OUTBOX_COLUMNS                                                                         \
  "o.id, o.event, kf_us(o.at), COALESCE(p.email, ''), o.subject, o.body, o.payload "              \
  "FROM notification_outbox o LEFT JOIN principals p ON p.name = o.principal AND o.principal <> " \
  "'' "
    {"outbox_new", "SELECT " KF_OUTBOX_COLUMNS
                   "WHERE NOT o.fanned_out ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED"},
    {"outbox_fanned_out", "UPDATE notification_outbox SET fanned_out = true WHERE id = $1"},
    {"delivery_insert",
     "INSERT INTO notification_deliveries (outbox_id, sink, state, next_attempt_at) "
     "VALUES ($1, $2, 'pending', kf_ts($3)) ON CONFLICT (outbox_id, sink) DO NOTHING"},
    // The lease: the claimed delivery is due again only after `$2`, when the claimer is gone.
    {"delivery_claim",
     "UPDATE notification_deliveries SET attempts = attempts + 1, next_attempt_at = kf_ts($2) "
     "WHERE id = (SELECT id FROM notification_deliveries WHERE state = 'pending' AND "
     "next_attempt_at <= kf_ts($1) ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
     "RETURNING id, outbox_id, sink, attempts"},
    {"outbox_by_id", "SELECT " KF_OUTBOX_COLUMNS "WHERE o.id = $1"},
#undef KF_OUTBOX_COLUMNS
    {"delivery_delivered",
     "UPDATE notification_deliveries SET state = 'delivered', delivered_at = kf_ts($2), "
     "last_error = '' WHERE id = $1"},
    {"delivery_retry",
     "UPDATE notification_deliveries SET next_attempt_at = kf_ts($2), last_error = $3 "
     "WHERE id = $1 AND state = 'pending'"},
    {"delivery_dead",
     "UPDATE notification_deliveries SET state = 'dead', last_error = $2 WHERE id = $1"},
    {"delivery_requeue",
     "UPDATE notification_deliveries SET state = 'pending', attempts = 0, next_attempt_at = "
     "kf_ts($2) WHERE id = $1 AND state = 'dead' RETURNING id"},
    {"delivery_by_id", "SELECT state FROM notification_deliveries WHERE id = $1"},
    {"delivery_counts", "SELECT state, count(*) FROM notification_deliveries GROUP BY state"},
    {"outbox_unfanned_count", "SELECT count(*) FROM notification_outbox WHERE NOT fanned_out"},
    {"delivery_list",
     "SELECT d.id, d.outbox_id, o.event, d.sink, d.state, d.attempts, kf_us(o.at), "
     "kf_us(d.next_attempt_at), kf_us(d.delivered_at), d.last_error, o.subject "
     "FROM notification_deliveries d JOIN notification_outbox o ON o.id = d.outbox_id "
     "WHERE ($1 = '' OR d.state = $1) ORDER BY d.id DESC LIMIT $2"},

    {"policy_get", "SELECT document FROM policy"},
    {"policy_set",
     "INSERT INTO policy (singleton, document) VALUES (true, $1) "
     "ON CONFLICT (singleton) DO UPDATE SET document = excluded.document"},
};

#undef KF_KEY_COLUMNS
#undef KF_GRANT_COLUMNS
#undef KF_HOST_COLUMNS
#undef KF_PRINCIPAL_COLUMNS

}  // namespace keyfleet::controller::sql
