-- API credentials (tokens, admin certificates) join the change feed, so every replica keeps
-- them in memory and authenticates callers without a database read (and during an outage);
-- a revocation reaches the other replicas as fast as any other change. And a bulk key add is
-- one change ('keys': a JSON array of the keys added) instead of one per key.
ALTER TABLE changes DROP CONSTRAINT changes_entity_check;
ALTER TABLE changes ADD CONSTRAINT changes_entity_check
  CHECK (entity IN ('principal', 'key', 'grant', 'host', 'policy', 'credential', 'keys'));

-- Large payloads (a bulk add of 30,000 keys is a 12 MB change) compress with lz4, several times
-- faster than the default pglz, inside the mutation's transaction.
ALTER TABLE changes ALTER COLUMN after_json SET COMPRESSION lz4;
ALTER TABLE audit_events ALTER COLUMN after_json SET COMPRESSION lz4;
