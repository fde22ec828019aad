-- private-integrations, PostgreSQL schema version 6: the totals of listings, without
-- counting every integration of the account.
--
-- A listing's page reads a few rows of `pi_integrations_account`; its total used to
-- count every row of the account the filter kept (about 20 ms for 100,000 integrations,
-- 35 to 50 ms with a state filter: see BENCHMARKS.md). Now:
--
-- - every integration of an account: `pi_account_counts`, one row per account, kept by
--   the triggers below in the transaction that inserts or deletes the integration (so
--   any snapshot that sees the row sees the count that includes it, whoever wrote it:
--   this crate, another replica, an operator in psql);
-- - rotating (`previous_expires_at > now`): a range of `pi_integrations_rotating`, which
--   holds only the integrations that have a previous token;
-- - rotation due (not rotating, `current_issued_at <= now - interval`): a range of
--   `pi_integrations_issued`, less the rotating ones in it;
-- - active (the rest): all, less the due range, less the rotating ones not in it.
-- Each count is index-only where the table's pages are all-visible (autovacuum keeps
-- them so). A search counts its matches as before, through the trigram index.
--
-- A change made with triggers off (`session_replication_role = replica`, logical
-- replication of `pi_integrations` without this table) leaves the counts behind; set
-- them again from the rows, as this migration does, writes held back meanwhile:
--   BEGIN;
--   LOCK TABLE pi_integrations IN SHARE MODE;
--   DELETE FROM pi_account_counts;
--   INSERT INTO pi_account_counts (account, integrations)
--       SELECT account, count(*) FROM pi_integrations GROUP BY account;
--   COMMIT;
CREATE TABLE pi_account_counts (
    account      TEXT COLLATE "C" PRIMARY KEY,
    integrations BIGINT NOT NULL
);

CREATE INDEX pi_integrations_issued ON pi_integrations (account, current_issued_at);

CREATE INDEX pi_integrations_rotating ON pi_integrations (account, previous_expires_at)
    INCLUDE (current_issued_at) WHERE previous_expires_at IS NOT NULL;

-- The functions name the table in the schema of the table that fired them, whatever the
-- `search_path` of the session that writes. One statement per statement, whatever the
-- number of rows (a bulk load is one upsert per account), accounts in order so that two
-- bulk writes lock their rows in the same order.
CREATE FUNCTION pi_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %I.pi_account_counts AS c (account, integrations) '
        'SELECT account, count(*) FROM pi_inserted GROUP BY account ORDER BY account '
        'ON CONFLICT (account) DO UPDATE SET integrations = c.integrations + excluded.integrations',
        TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE FUNCTION pi_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE %I.pi_account_counts AS c SET integrations = c.integrations - d.n '
        'FROM (SELECT account, count(*) AS n FROM pi_deleted GROUP BY account) AS d '
        'WHERE c.account = d.account',
        TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

-- An integration moved to another account: never done by this crate, but by hand it
-- must count too.
CREATE FUNCTION pi_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE %I.pi_account_counts SET integrations = integrations - 1 WHERE account = $1',
        TG_TABLE_SCHEMA) USING OLD.account;
    EXECUTE format(
        'INSERT INTO %I.pi_account_counts AS c (account, integrations) VALUES ($1, 1) '
        'ON CONFLICT (account) DO UPDATE SET integrations = c.integrations + 1',
        TG_TABLE_SCHEMA) USING NEW.account;
    RETURN NULL;
END
$$;

CREATE FUNCTION pi_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I.pi_account_counts', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

-- Creating the triggers waits for the writes under way and holds back new ones until
-- this migration commits; the count below, a statement of its own, sees every row
-- written before, and every later write fires the triggers.
CREATE TRIGGER pi_integrations_count_insert
    AFTER INSERT ON pi_integrations
    REFERENCING NEW TABLE AS pi_inserted
    FOR EACH STATEMENT EXECUTE FUNCTION pi_count_inserted();

CREATE TRIGGER pi_integrations_count_delete
    AFTER DELETE ON pi_integrations
    REFERENCING OLD TABLE AS pi_deleted
    FOR EACH STATEMENT EXECUTE FUNCTION pi_count_deleted();

CREATE TRIGGER pi_integrations_count_move
    AFTER UPDATE OF account ON pi_integrations
    FOR EACH ROW
    WHEN (OLD.account IS DISTINCT FROM NEW.account)
    EXECUTE FUNCTION pi_count_moved();

CREATE TRIGGER pi_integrations_count_truncate
    AFTER TRUNCATE ON pi_integrations
    FOR EACH STATEMENT EXECUTE FUNCTION pi_count_truncated();

INSERT INTO pi_account_counts (account, integrations)
    SELECT account, count(*) FROM pi_integrations GROUP BY account;
