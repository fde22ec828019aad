-- private-integrations, SQLite schema version 6: the totals of listings, without
-- counting every integration of the account (as PostgreSQL's version 6; the same
-- queries run on both).
--
-- - every integration of an account: `pi_account_counts`, one row per account, kept by
--   the triggers below in the transaction that inserts or deletes the integration;
-- - rotating (`previous_expires_at > now`): a range of `pi_integrations_rotating`, which
--   holds only the integrations that have a previous token;
-- - rotation due (not rotating, `current_issued_at <= now - interval`): a range of
--   `pi_integrations_issued`, less the rotating ones in it;
-- - active (the rest): all, less the due range, less the rotating ones not in it.
-- A search counts its matches as before.
CREATE TABLE pi_account_counts (
    account      TEXT PRIMARY KEY NOT NULL,
    integrations INTEGER NOT NULL
);

CREATE INDEX pi_integrations_issued ON pi_integrations (account, current_issued_at);

CREATE INDEX pi_integrations_rotating
    ON pi_integrations (account, previous_expires_at, current_issued_at)
    WHERE previous_expires_at IS NOT NULL;

CREATE TRIGGER pi_integrations_count_insert AFTER INSERT ON pi_integrations
BEGIN
    INSERT INTO pi_account_counts (account, integrations) VALUES (NEW.account, 1)
        ON CONFLICT (account) DO UPDATE SET integrations = integrations + 1;
END;

CREATE TRIGGER pi_integrations_count_delete AFTER DELETE ON pi_integrations
BEGIN
    UPDATE pi_account_counts SET integrations = integrations - 1 WHERE account = OLD.account;
END;

-- An integration moved to another account: never done by this crate, but by hand it
-- must count too.
CREATE TRIGGER pi_integrations_count_move AFTER UPDATE OF account ON pi_integrations
    WHEN OLD.account IS NOT NEW.account
BEGIN
    UPDATE pi_account_counts SET integrations = integrations - 1 WHERE account = OLD.account;
    INSERT INTO pi_account_counts (account, integrations) VALUES (NEW.account, 1)
        ON CONFLICT (account) DO UPDATE SET integrations = integrations + 1;
END;

INSERT INTO pi_account_counts (account, integrations)
    SELECT account, count(*) FROM pi_integrations GROUP BY account;
