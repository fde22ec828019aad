-- private-integrations, SQLite schema version 1.
--
-- Every table is prefixed `pi_` and the migration history lives in `pi_migrations`, so
-- nothing here meets the host application's tables or its `_sqlx_migrations`.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact, and ordered.

-- One row per integration: the record and its credentials (one token, or two while a
-- rotation is under way). Token hashes are SHA-256 digests, 32 bytes; never a secret.
CREATE TABLE pi_integrations (
    id                  TEXT PRIMARY KEY NOT NULL,
    account             TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    scopes              TEXT NOT NULL, -- JSON array of scope names
    current_token_id    TEXT NOT NULL,
    current_token_hash  BLOB NOT NULL,
    current_issued_at   INTEGER NOT NULL,
    previous_token_id   TEXT,
    previous_token_hash BLOB,
    previous_issued_at  INTEGER,
    previous_expires_at INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL
);

-- Listings: an account's integrations, oldest first.
CREATE INDEX pi_integrations_account ON pi_integrations (account, created_at, id);

-- Every live token id, unique across all accounts, kept in sync with the credentials of
-- pi_integrations on every write: token verification is one lookup on this primary key.
CREATE TABLE pi_tokens (
    token_id       TEXT PRIMARY KEY NOT NULL,
    integration_id TEXT NOT NULL REFERENCES pi_integrations (id) ON DELETE CASCADE
);

CREATE INDEX pi_tokens_integration ON pi_tokens (integration_id);

-- The feature switch of accounts that set it (absent: on).
CREATE TABLE pi_account_settings (
    account         TEXT PRIMARY KEY NOT NULL,
    feature_enabled INTEGER NOT NULL -- 0 or 1
);

-- Per-user permissions that an admin set (absent: role_default).
CREATE TABLE pi_permissions (
    account    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    permission TEXT NOT NULL, -- allow | deny | role_default
    PRIMARY KEY (account, user_id)
);

-- The audit log. `seq` orders events written at the same instant; AUTOINCREMENT never
-- reuses a number, even after the newest event is gone.
CREATE TABLE pi_audit_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    account        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    integration_id TEXT, -- no foreign key: events outlive deleted integrations
    action         TEXT NOT NULL, -- JSON of the AuditAction
    at             INTEGER NOT NULL
);

CREATE INDEX pi_audit_events_account ON pi_audit_events (account, at, seq);
