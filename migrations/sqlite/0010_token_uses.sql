-- private-integrations, SQLite schema version 10: use counts per token and hour (as
-- PostgreSQL's version 10; the same queries run on both).
--
-- How many verifications of each token succeeded in each hour (UTC, microseconds since
-- the Unix epoch like every timestamp here), kept with the integration that held the
-- token when the count was written. The service adds to them once per last-used
-- interval, one transaction per batch (`INSERT … SELECT … FROM pi_tokens … ON CONFLICT …
-- DO UPDATE SET uses = uses + excluded.uses` for each token and hour): a token id no
-- longer in `pi_tokens` matches no row and is skipped. A row stays when its token leaves
-- the integration (rotated out, expired): it is the integration's history, shown as the
-- uses of the tokens the current one replaced. A delete of the integration deletes its
-- rows in the same transaction (the foreign key cascades them too, where foreign keys
-- are enforced); past the usage retention (90 days by default) the service removes
-- them, the oldest first, in bounded batches.
--
-- WITHOUT ROWID: the rows are kept in the order of the primary key, so the only read,
-- an integration's counts since an hour (`WHERE integration_id = $1 AND hour >= $2`), is
-- one range of it; `pi_token_uses_hour` serves the removal (`… WHERE hour < $1 ORDER BY
-- hour, integration_id, token_id LIMIT $2`). Token ids only, never a secret.
CREATE TABLE pi_token_uses (
    integration_id TEXT NOT NULL REFERENCES pi_integrations (id) ON DELETE CASCADE,
    token_id       TEXT NOT NULL,
    hour           INTEGER NOT NULL, -- the start of the hour (UTC)
    uses           INTEGER NOT NULL, -- at most 2^63 - 1: an addition past it stays there
    PRIMARY KEY (integration_id, hour, token_id)
) WITHOUT ROWID;

CREATE INDEX pi_token_uses_hour ON pi_token_uses (hour, integration_id, token_id);
