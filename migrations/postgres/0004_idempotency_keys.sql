-- private-integrations, PostgreSQL schema version 4: idempotency keys.
--
-- One row per change made under an `Idempotency-Key`, written in the change's own
-- transaction, first: of two writers racing with one key, the second waits for the first
-- on the primary key and then fails, so a change is made once. Rows older than the
-- retention (24 hours at least) are removed in bounded batches by the service.
-- No secret: the integration is kept as the change left it (token ids and SHA-256
-- digests, as pi_integrations holds them), never a token.
CREATE TABLE pi_idempotency_keys (
    account     TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint BYTEA NOT NULL,       -- SHA-256 of the request's operation and arguments
    action      TEXT NOT NULL,        -- JSON of the AuditAction
    integration TEXT,                 -- JSON of the integration as the change left it
    at          TIMESTAMPTZ NOT NULL, -- when the change was made
    PRIMARY KEY (account, user_id, key)
);

-- Removal of the oldest rows, a batch at a time.
CREATE INDEX pi_idempotency_keys_at ON pi_idempotency_keys (at);
