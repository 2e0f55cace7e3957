-- The notification outbox: events written in the transaction of the mutation that caused them
-- (or by the periodic scan, once per dedupe_key), then fanned out to one delivery per configured
-- sink and delivered at least once by exactly one replica (a claimed delivery is leased by
-- moving next_attempt_at past the sink's timeout; FOR UPDATE SKIP LOCKED picks it).
CREATE TABLE notification_outbox (
  id         bigserial PRIMARY KEY,
  event      text NOT NULL,
  at         timestamptz NOT NULL,
  principal  text NOT NULL DEFAULT '',  -- whose address the e-mail goes to; '' for nobody
  subject    text NOT NULL,
  body       text NOT NULL,
  payload    text NOT NULL,             -- JSON object
  dedupe_key text UNIQUE,               -- NULL for mutation events
  fanned_out boolean NOT NULL DEFAULT false
);
CREATE INDEX notification_outbox_new ON notification_outbox (id) WHERE NOT fanned_out;

CREATE TABLE notification_deliveries (
  id              bigserial PRIMARY KEY,
  outbox_id       bigint NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
  sink            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  delivered_at    timestamptz,
  last_error      text NOT NULL DEFAULT '',
  UNIQUE (outbox_id, sink)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
  WHERE state = 'pending';
