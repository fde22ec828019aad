-- private-integrations, PostgreSQL schema version 2.
--
-- One integration's audit log, a page at a time (newest first, keyed by time and `seq`):
-- without this index every page of a filtered log reads the whole account's log.
CREATE INDEX pi_audit_events_integration ON pi_audit_events (account, integration_id, at, seq);
