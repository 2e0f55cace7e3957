-- Admin authentication: API tokens and admin client certificates share one table, so role,
-- scope, expiry and revocation work alike for both. A token's secret is never stored, only its
-- SHA-256; a certificate is recognised by the credential id in its URI SAN.
CREATE TABLE api_credentials (
  id                 text PRIMARY KEY,          -- 16 hex digits, public
  name               text NOT NULL,
  kind               text NOT NULL CHECK (kind IN ('token', 'certificate')),
  role               text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor', 'owner')),
  principal          text NOT NULL DEFAULT '',  -- the owner role's principal
  host_scope         text NOT NULL DEFAULT '{}',  -- JSON labels; {} = every host
  secret_hash        text NOT NULL DEFAULT '',  -- tokens: hex SHA-256 of the secret part
  certificate_serial text NOT NULL DEFAULT '',  -- certificates: hex serial
  created_at         timestamptz NOT NULL,
  created_by         text NOT NULL,
  expires_at         timestamptz,               -- NULL: never
  revoked_at         timestamptz,
  last_used_at       timestamptz
);
-- A name names one live credential; revoked ones keep theirs for the record.
CREATE UNIQUE INDEX api_credentials_live_name ON api_credentials (name) WHERE revoked_at IS NULL;

-- A join token made by a host-scoped operator carries the scope: it may re-enroll only a host
-- inside it (checked in the enrollment transaction), and never relabels one.
ALTER TABLE join_tokens ADD COLUMN creator_scope text NOT NULL DEFAULT '{}';

-- Signed checkpoints of the audit chain: each batch of events appended in one transaction is
-- signed with the controller's audit key (a file beside the CA, never in this database).
CREATE TABLE audit_checkpoints (
  id         bigserial PRIMARY KEY,
  first_seq  bigint NOT NULL,  -- the batch's first and last sequence, to find what covers an event
  last_seq   bigint NOT NULL,
  signed_at  timestamptz NOT NULL,
  key_id     text NOT NULL,
  events     text NOT NULL,  -- "SEQ:HASH,SEQ:HASH…" of the batch (what is signed)
  signature  text NOT NULL   -- base64 DER ECDSA-SHA256 over the canonical payload
);
CREATE INDEX audit_checkpoints_last_seq ON audit_checkpoints (last_seq);
