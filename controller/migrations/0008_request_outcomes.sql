-- Idempotent mutations: a request id the caller sent (x-keyfleet-request-id) is recorded in the
-- transaction of the mutation it made, so a retry of the same request (a lost answer, a timeout)
-- gets the first outcome instead of doing it twice. The answer itself is added right after
-- the commit; a secret it held (a private key, a token) is never stored: a replay of such a
-- request says so instead. Rows older than seven days are deleted as new ones come.
CREATE TABLE request_outcomes (
  request_id      text PRIMARY KEY,
  actor           text NOT NULL,
  method          text NOT NULL,
  request_sha256  text NOT NULL,
  change          bigint NOT NULL,   -- the mutation's last change; 0 when it changed nothing
  response        bytea,             -- the serialized answer; NULL until recorded
  secret_withheld boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL
);
CREATE INDEX request_outcomes_created_at ON request_outcomes (created_at);
