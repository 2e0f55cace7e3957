-- The accounts a host's last apply could not write (JSON array of {account, reason}): with any,
-- the host is failed, not converged, whatever generation it applied.
ALTER TABLE hosts ADD COLUMN failed_accounts text NOT NULL DEFAULT '[]';
