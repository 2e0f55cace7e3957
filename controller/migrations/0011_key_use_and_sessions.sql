-- Last use and live sessions (issue 18). A revocation may end the key's live sshd sessions:
-- the flag is kept with the key and with the blocklist entry (which outlives a removed key),
-- so every replica's fleet view tells agents which revoked keys' sessions to end.
ALTER TABLE keys ADD COLUMN revocation_ends_sessions boolean NOT NULL DEFAULT false;
ALTER TABLE revoked_fingerprints ADD COLUMN ends_sessions boolean NOT NULL DEFAULT false;

-- The newest login with each key into each account of each host, from the agents' KeyUseReports
-- (sshd's log). An upsert keeps the newest time (and its address). Not tied to the keys or hosts
-- tables: a key used on a host removed since was still used then.
CREATE TABLE key_uses (
  fingerprint  text NOT NULL,
  hostname     text NOT NULL,
  account      text NOT NULL,
  last_used_at timestamptz NOT NULL,
  from_address text NOT NULL DEFAULT '',
  PRIMARY KEY (fingerprint, hostname, account)
);
-- `key list --unused-for` and the compliance report's stale keys: which keys were used since.
CREATE INDEX key_uses_last_used ON key_uses (last_used_at, fingerprint);

-- Live sessions of revoked keys the agents ended (ReportRequest.sessions_ended), summed per
-- key and host; each report that ended some is also an audit event.
CREATE TABLE sessions_ended (
  fingerprint text NOT NULL,
  hostname    text NOT NULL,
  count       bigint NOT NULL CHECK (count >= 0),
  last_at     timestamptz NOT NULL,
  PRIMARY KEY (fingerprint, hostname)
);
