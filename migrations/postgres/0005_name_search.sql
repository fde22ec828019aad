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
-- A listing reads an account's rows in key order through
-- `pi_integrations_account (account, created_at, id)`, forwards or backwards; the state
-- conditions filter those rows in the database. A search ("name contains") uses a
-- trigram index where the `pg_trgm` extension can be had: this migration creates it if
-- it is not there and it is allowed to, and the index with its operator class (in
-- whichever schema the extension lives). Where either fails, the migration goes on without the index, and a
-- search filters the account's rows instead (slower on large accounts: see
-- BENCHMARKS.md). An operator can add the extension later and run
--   CREATE INDEX pi_integrations_name_trgm ON pi_integrations
--       USING gin (name_folded gin_trgm_ops);
ALTER TABLE pi_integrations ADD COLUMN name_folded TEXT COLLATE "C";

-- The rows still to fold: empty once `migrate()` has run.
CREATE INDEX pi_integrations_unfolded ON pi_integrations (id) WHERE name_folded IS NULL;

DO $$
DECLARE
    trgm_schema name;
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    -- The extension may live in a schema not on the `search_path`: name its operator
    -- class by its schema.
    SELECT n.nspname INTO STRICT trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX pi_integrations_name_trgm ON pi_integrations '
                   'USING gin (name_folded %I.gin_trgm_ops)', trgm_schema);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pi_integrations_name_trgm not created (%): searches filter the account''s rows', SQLERRM;
END
$$;
