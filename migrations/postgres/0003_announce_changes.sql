-- private-integrations, PostgreSQL schema version 3: last used, and announcements of
-- every change that affects verification. (Version 2 is another change's.)

-- When each token was last used, on its row of the token index: it follows the token,
-- so a rotation or a rename keeps it. Written in batches by the service (at most once
-- per token per last-used interval), never by a verification; NULL: never used since
-- this column exists.
ALTER TABLE pi_tokens ADD COLUMN last_used_at TIMESTAMPTZ;

-- Announcements. Every committed change of a row that decides verification is announced
-- on the channel `pi_changes` by `pg_notify`, from a trigger, inside the writing
-- transaction: PostgreSQL delivers it when, and only if, the transaction commits. So a
-- rolled-back change is never announced, and a committed one always is, whoever made it
-- (this crate, another replica, an operator in psql).
--
-- Payload (JSON, well under NOTIFY's 8000-byte limit):
--   {"v":1,"schema":"<schema of the table>","tokens":["<token id>", ...]}
--     every token id the row held before or holds after the change, once each;
--   {"v":1,"schema":"<schema of the table>","all":true}
--     the table was truncated: anything may have changed.
-- Channels are database-wide: a listener ignores the announcements of other schemas.
-- A last-used write (an UPDATE of `pi_tokens.last_used_at` only) is not announced.

CREATE FUNCTION pi_announce_integration() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text[] := '{}';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        ids := ids || ARRAY[OLD.current_token_id, OLD.previous_token_id];
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        ids := ids || ARRAY[NEW.current_token_id, NEW.previous_token_id];
    END IF;
    PERFORM pg_notify('pi_changes', json_build_object(
        'v', 1,
        'schema', TG_TABLE_SCHEMA,
        'tokens', (SELECT coalesce(json_agg(DISTINCT id), '[]'::json)
                   FROM unnest(ids) AS id WHERE id IS NOT NULL)
    )::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION pi_announce_token() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text[] := '{}';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        ids := ids || OLD.token_id::text;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        ids := ids || NEW.token_id::text;
    END IF;
    PERFORM pg_notify('pi_changes', json_build_object(
        'v', 1,
        'schema', TG_TABLE_SCHEMA,
        'tokens', (SELECT coalesce(json_agg(DISTINCT id), '[]'::json) FROM unnest(ids) AS id)
    )::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION pi_announce_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pi_changes', json_build_object(
        'v', 1,
        'schema', TG_TABLE_SCHEMA,
        'all', true
    )::text);
    RETURN NULL;
END
$$;

-- An integration created, changed in any way (tokens, scopes, name, ...) or deleted.
CREATE TRIGGER pi_integrations_announce
    AFTER INSERT OR UPDATE OR DELETE ON pi_integrations
    FOR EACH ROW EXECUTE FUNCTION pi_announce_integration();

CREATE TRIGGER pi_integrations_announce_truncate
    AFTER TRUNCATE ON pi_integrations
    FOR EACH STATEMENT EXECUTE FUNCTION pi_announce_everything();

-- A row of the token index added, removed or repointed (verification looks tokens up
-- there). Not a last-used write: the WHEN clause lets only a change of the key through.
CREATE TRIGGER pi_tokens_announce
    AFTER INSERT OR DELETE ON pi_tokens
    FOR EACH ROW EXECUTE FUNCTION pi_announce_token();

CREATE TRIGGER pi_tokens_announce_update
    AFTER UPDATE ON pi_tokens
    FOR EACH ROW
    WHEN (OLD.token_id IS DISTINCT FROM NEW.token_id
          OR OLD.integration_id IS DISTINCT FROM NEW.integration_id)
    EXECUTE FUNCTION pi_announce_token();

CREATE TRIGGER pi_tokens_announce_truncate
    AFTER TRUNCATE ON pi_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION pi_announce_everything();
