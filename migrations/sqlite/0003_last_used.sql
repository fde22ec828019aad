-- private-integrations, SQLite schema version 3: when each token was last used.
--
-- (Version 2 is another change's.) Kept on the token's row of the token index, so it
-- follows the token, not the integration: a rotation moves the current token's row to
-- the previous token's place untouched, and a rename leaves it alone. Written in
-- batches by the service (at most once per token per last-used interval), never by a
-- verification. Microseconds since the Unix epoch, like every timestamp here; NULL:
-- never used since this column exists.
ALTER TABLE pi_tokens ADD COLUMN last_used_at INTEGER;
