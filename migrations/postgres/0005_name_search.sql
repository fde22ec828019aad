-- private-integrations, PostgreSQL schema version 5: searching integrations by name.
--
-- `name_folded` is the name with each character replaced by its Unicode lowercase
-- mapping, computed by the crate (in Rust) and written with the name, so that a
-- case-insensitive search finds the same integrations on every backend, whatever the
-- database's locale. Rows written before this version are folded by `migrate()` after
-- the migrations run (in Rust, a batch at a time, through the partial index below);
-- until then, and for rows an older replica writes during an upgrade, a search falls
-- back on `lower(name)`.
--
-- No other index: a listing reads an account's rows in key order through
-- `pi_integrations_account (account, created_at, id)`, forwards or backwards, and the
-- search and state conditions filter those rows in the database. A trigram index
-- (pg_trgm) would need an extension this crate cannot count on; see BENCHMARKS.md for
-- what the account index gives on 100,000 integrations.
ALTER TABLE pi_integrations ADD COLUMN name_folded TEXT COLLATE "C";

-- The rows still to fold: empty once `migrate()` has run.
CREATE INDEX pi_integrations_unfolded ON pi_integrations (id) WHERE name_folded IS NULL;
