-- private-integrations, PostgreSQL schema version 9: rotations by their end, for a
-- rotation that finishes itself.
--
-- With `finish_rotation_when_silent`, every replica looks once a minute for the
-- integrations of every account still rotating (`previous_expires_at > now`), a batch
-- at a time in the order of (`previous_expires_at`, id). This index holds only the
-- integrations that have a previous token, in that order: a batch is a range of it,
-- whatever the number of integrations, and rotations whose window has passed sort
-- before `now` and are never read.
CREATE INDEX pi_integrations_rotating_until ON pi_integrations (previous_expires_at, id)
    WHERE previous_expires_at IS NOT NULL;
