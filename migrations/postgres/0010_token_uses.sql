-- private-integrations, PostgreSQL schema version 10: use counts per token and hour.
--
-- How many verifications of each token succeeded in each hour (UTC), kept with the
-- integration that held the token when the count was written. The service adds to them
-- once per last-used interval, a batch per statement (`INSERT … SELECT … FROM unnest(…)
-- JOIN pi_tokens … ON CONFLICT … DO UPDATE SET uses = uses + excluded.uses`): a token id
-- no longer in `pi_tokens` matches no row and is skipped. A row stays when its token
-- leaves the integration (rotated out, expired): it is the integration's history, shown
-- as the uses of the tokens the current one replaced. It goes with the integration
-- (`ON DELETE CASCADE`), and past the usage retention (90 days by default) the service
-- removes it, the oldest first, in bounded batches.
--
-- The primary key serves the only read, an integration's counts since an hour
-- (`WHERE integration_id = $1 AND hour >= $2`); `pi_token_uses_hour` serves the removal
-- (`… WHERE hour < $1 ORDER BY hour, integration_id, token_id LIMIT $2`). No trigger: a
-- count is not a change that affects verification, and is never announced on
-- `pi_changes` (nor is the cascade of a delete, whose integration row announces it).
-- Token ids only, never a secret.
CREATE TABLE pi_token_uses (
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES pi_integrations (id) ON DELETE CASCADE,
    token_id       TEXT COLLATE "C" NOT NULL,
    hour           TIMESTAMPTZ NOT NULL, -- the start of the hour (UTC)
    uses           BIGINT NOT NULL,      -- at most 2^63 - 1: an addition past it stays there
    PRIMARY KEY (integration_id, hour, token_id)
);

CREATE INDEX pi_token_uses_hour ON pi_token_uses (hour, integration_id, token_id);
