-- private-integrations, SQLite schema version 7: tokens found in a public place.
--
-- `current_revoked_at` is set when the current token was reported leaked and revoked
-- (`LeakPolicy::Revoke`): the integration keeps existing, and no token verifies until an
-- admin rotates, which clears it. Where a leaked token was found is kept in the audit
-- log (`token_leaked` events), not here.
ALTER TABLE pi_integrations ADD COLUMN current_revoked_at INTEGER;
