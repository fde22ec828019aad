-- private-integrations, SQLite schema version 9: rotations by their end, for a rotation
-- that finishes itself (as PostgreSQL's version 9; the same queries run on both).
--
-- With `finish_rotation_when_silent`, the service looks once a minute for the
-- integrations still rotating (`previous_expires_at > now`), a batch at a time in the
-- order of (`previous_expires_at`, id): a range of this index, which holds only the
-- integrations that have a previous token.
CREATE INDEX pi_integrations_rotating_until ON pi_integrations (previous_expires_at, id)
    WHERE previous_expires_at IS NOT NULL;
