-- keyfleet inventory, first schema. Times are timestamptz; the controller reads and writes them
-- as unix microseconds through kf_us() and kf_ts() so nothing is lost to formatting.

CREATE FUNCTION kf_ts(us bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT
  RETURN timestamptz 'epoch' + us * interval '1 microsecond';

CREATE FUNCTION kf_us(t timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT
  RETURN (extract(epoch FROM t) * 1000000)::bigint;

CREATE TABLE principals (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  kind       text NOT NULL CHECK (kind IN ('person', 'service')),
  email      text NOT NULL DEFAULT '',
  disabled   boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL
);

CREATE TABLE keys (
  id                    bigserial PRIMARY KEY,
  -- One key cannot serve two owners.
  fingerprint           text NOT NULL UNIQUE,
  principal_id          bigint NOT NULL REFERENCES principals (id),
  type                  text NOT NULL,
  bits                  integer NOT NULL CHECK (bits >= 0),
  public_key            text NOT NULL,
  comment               text NOT NULL DEFAULT '',
  label                 text NOT NULL DEFAULT '',
  created_at            timestamptz NOT NULL,
  expires_at            timestamptz NOT NULL,
  state                 text NOT NULL CHECK (state IN ('active', 'superseded', 'revoked')),
  successor_fingerprint text NOT NULL DEFAULT '',
  source                text NOT NULL CHECK (source IN ('uploaded', 'generated')),
  revocation_reason     text NOT NULL DEFAULT '',
  revoked_at            timestamptz
);
CREATE INDEX keys_principal ON keys (principal_id);

-- A revoked key can never be added again, by anyone. Rows are never deleted.
CREATE TABLE revoked_fingerprints (
  fingerprint text PRIMARY KEY,
  reason      text NOT NULL,
  revoked_at  timestamptz NOT NULL,
  revoked_by  text NOT NULL
);

CREATE TABLE hosts (
  hostname              text PRIMARY KEY,
  labels                text NOT NULL,  -- JSON object, as the controller wrote it
  first_seen            timestamptz NOT NULL,
  last_seen             timestamptz NOT NULL,
  applied_generation    bigint NOT NULL DEFAULT 0,
  applied_digest        text NOT NULL DEFAULT '',
  drift                 text NOT NULL DEFAULT '[]',
  host_key_fingerprints text NOT NULL DEFAULT '[]'
);

CREATE TABLE grants (
  id              bigserial PRIMARY KEY,
  principal_id    bigint REFERENCES principals (id),
  key_fingerprint text,
  selector_labels text NOT NULL,  -- JSON object
  hostname_glob   text NOT NULL DEFAULT '',
  account         text NOT NULL,
  options         text NOT NULL DEFAULT '',
  expires_at      timestamptz,
  allow_root      boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL,
  CHECK ((principal_id IS NULL) <> (key_fingerprint IS NULL))
);

-- At most one row: the policy set through the admin API. No row: the configured defaults.
CREATE TABLE policy (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  document  text NOT NULL  -- JSON, see controller/record_json.cc
);

-- Append-only and hash-chained; see controller/audit_chain.h.
CREATE TABLE audit_events (
  seq         bigserial PRIMARY KEY,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  target      text NOT NULL,
  before_json text NOT NULL,
  after_json  text NOT NULL,
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);

-- The change feed. Writers hold the inventory write lock until they commit, so sequences
-- become visible in order and a reader that has seen N has seen everything below N.
CREATE TABLE changes (
  seq        bigserial PRIMARY KEY,
  at         timestamptz NOT NULL,
  entity     text NOT NULL CHECK (entity IN ('principal', 'key', 'grant', 'host', 'policy')),
  entity_key text NOT NULL,
  after_json text NOT NULL  -- '' when the entity was deleted
);
