-- The database's epoch: which history its change numbers belong to. Agents compare generations
-- only within one epoch, so a database restored from an older copy, or rebuilt, is followed
-- instead of ignored ("older than applied") until its counter catches up.
--
-- It is derived from a random id kept here (new for a rebuilt database; renewed by
-- `keyfleet-controller new-epoch`), the cluster's system identifier (new after a restore into
-- another cluster), the current WAL timeline (new after point-in-time recovery or a standby's
-- promotion) and the database's OID (new after a pg_dump restore). A part PostgreSQL does not
-- let this role read is left out rather than failing the start.
CREATE TABLE database_identity (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  renewed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO database_identity DEFAULT VALUES;

CREATE FUNCTION keyfleet_database_epoch() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  sysid    text := '';
  timeline text := '';
BEGIN
  BEGIN
    SELECT system_identifier::text INTO sysid FROM pg_control_system();
  EXCEPTION WHEN OTHERS THEN
    sysid := '';
  END;
  BEGIN
    timeline := substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8);
  EXCEPTION WHEN OTHERS THEN
    timeline := '';  -- a standby (in recovery), or no privilege
  END;
  RETURN substr(encode(sha256(convert_to(concat_ws('/',
      (SELECT id::text FROM database_identity),
      sysid, timeline,
      (SELECT oid::text FROM pg_database WHERE datname = current_database())), 'UTF8')), 'hex'),
    1, 16);
END $$;
