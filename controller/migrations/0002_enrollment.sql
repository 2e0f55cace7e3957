-- Agent enrollment: join tokens (only a hash of the secret is stored) and each host's current
-- enrollment. A host's certificates name its enrollment id; enrolling again (or removing the
-- host) makes every older certificate of that host worthless at once.
CREATE TABLE join_tokens (
  id           text PRIMARY KEY,
  secret_hash  text NOT NULL,  -- hex SHA-256 of the secret part
  hostname     text NOT NULL DEFAULT '',  -- '' : the agent names a new host
  labels       text NOT NULL DEFAULT '{}',  -- JSON object given to the host
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  uses_allowed integer NOT NULL CHECK (uses_allowed > 0),
  uses         integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= uses_allowed),
  revoked_at   timestamptz,
  created_by   text NOT NULL
);

ALTER TABLE hosts ADD COLUMN enrollment_id text NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN enrolled_at timestamptz;
ALTER TABLE hosts ADD COLUMN certificate_expires timestamptz;

