-- From each agent report: the host's SSH host public keys (JSON array of "TYPE BASE64", for
-- `keyfleet known-hosts`), why its KRL does not hold the fleet's revocations ('' when it does:
-- with an error the host is failed, not converged), and where its agent writes the managed keys.
ALTER TABLE hosts ADD COLUMN host_public_keys text NOT NULL DEFAULT '[]';
ALTER TABLE hosts ADD COLUMN revocations_error text NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN key_files text NOT NULL DEFAULT 'home'
  CHECK (key_files IN ('home', 'central', 'both'));
