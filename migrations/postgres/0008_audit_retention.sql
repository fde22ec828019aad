-- private-integrations, PostgreSQL schema version 8: audit retention.
--
-- With `audit_retention` set, the service removes the events older than the retention
-- in bounded batches, the oldest first (`DELETE … WHERE seq IN (SELECT seq … WHERE at <
-- $1 ORDER BY at, seq LIMIT $2)`): this index finds them without reading the whole log.
-- Without retention nothing reads it; it costs each write of an event one more index
-- entry.
CREATE INDEX pi_audit_events_at ON pi_audit_events (at, seq);
