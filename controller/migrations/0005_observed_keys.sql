-- What each host's agent last reported finding in its accounts' key files (managed and
-- unmanaged lines: JSON array of ObservedAccount in the protobuf JSON mapping); '' until an agent
-- that reports its files has reported. Read for `keyfleet access` and `verify`, never listed.
ALTER TABLE hosts ADD COLUMN observed text NOT NULL DEFAULT '';
