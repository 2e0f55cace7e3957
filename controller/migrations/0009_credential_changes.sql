-- API credentials (tokens, admin certificates) join the change feed, so every replica keeps
-- them in memory and authenticates callers without a database read (and during an outage);
-- a revocation reaches the other replicas as fast as any other change.
ALTER TABLE changes DROP CONSTRAINT changes_entity_check;
ALTER TABLE changes ADD CONSTRAINT changes_entity_check
  CHECK (entity IN ('principal', 'key', 'grant', 'host', 'policy', 'credential'));
