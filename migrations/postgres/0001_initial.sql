-- private-integrations, PostgreSQL schema version 1.
--
-- Every table is prefixed `pi_` and the migration history lives in `pi_migrations`, so
-- nothing here meets the host application's tables or its `_sqlx_migrations`. Ids use
-- the "C" collation: listings tie-break on the id byte by byte, as every backend does.

-- One row per integration: the record and its credentials (one token, or two while a
-- rotation is under way). Token hashes are SHA-256 digests, 32 bytes; never a secret.
CREATE TABLE pi_integrations (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    account             TEXT COLLATE "C" NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    scopes              TEXT NOT NULL, -- JSON array of scope names
    current_token_id    TEXT COLLATE "C" NOT NULL,
    current_token_hash  BYTEA NOT NULL,
    current_issued_at   TIMESTAMPTZ NOT NULL,
    previous_token_id   TEXT COLLATE "C",
    previous_token_hash BYTEA,
    previous_issued_at  TIMESTAMPTZ,
    previous_expires_at TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL
);

-- Listings: an account's integrations, oldest first.
CREATE INDEX pi_integrations_account ON pi_integrations (account, created_at, id);

-- Every live token id, unique across all accounts, kept in sync with the credentials of
-- pi_integrations on every write: token verification is one lookup on this primary key.
CREATE TABLE pi_tokens (
    token_id       TEXT COLLATE "C" PRIMARY KEY,
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES pi_integrations (id) ON DELETE CASCADE
);

CREATE INDEX pi_tokens_integration ON pi_tokens (integration_id);

-- The feature switch of accounts that set it (absent: on).
CREATE TABLE pi_account_settings (
    account         TEXT COLLATE "C" PRIMARY KEY,
    feature_enabled BOOLEAN NOT NULL
);

-- Per-user permissions that an admin set (absent: role_default).
CREATE TABLE pi_permissions (
    account    TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL,
    permission TEXT NOT NULL, -- allow | deny | role_default
    PRIMARY KEY (account, user_id)
);

-- The audit log. `seq` orders events written at the same instant.
CREATE TABLE pi_audit_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account        TEXT COLLATE "C" NOT NULL,
    actor          TEXT NOT NULL,
    integration_id TEXT, -- no foreign key: events outlive deleted integrations
    action         TEXT NOT NULL, -- JSON of the AuditAction
    at             TIMESTAMPTZ NOT NULL
);

CREATE INDEX pi_audit_events_account ON pi_audit_events (account, at, seq);
