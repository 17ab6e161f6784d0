-- What the fail-open path needs from the database: exactly-once replay of the local spool,
-- callbacks that arrive before their session, and a cheap way to notice routing changes.

-- Spool records applied, keyed by the id each record got when it was written. The marker is
-- inserted in the same transaction as the record's statements, so a crash between that
-- commit and the removal of the spool file makes the next replay skip the record.
CREATE TABLE spool_applied (
    record_id  UUID PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX spool_applied_applied_at_idx ON spool_applied (applied_at);

-- A status, dial or recording callback whose session does not exist yet: its voice webhook
-- is still in some instance's spool, or is being written right now. Applied (and deleted)
-- as soon as the session is created; pruned after a day.
CREATE TABLE call_callbacks_parked (
    id                 BIGSERIAL PRIMARY KEY,
    call_sid           TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('progress', 'recording')),
    call_status        TEXT,
    answered_at        TIMESTAMPTZ,
    ended_at           TIMESTAMPTZ,
    duration_seconds   INTEGER,
    talk_seconds       INTEGER,
    recording_sid      TEXT,
    recording_url      TEXT,
    recording_duration INTEGER,
    recording_status   TEXT,
    parked_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX call_callbacks_parked_call_sid_idx ON call_callbacks_parked (call_sid);
CREATE INDEX call_callbacks_parked_parked_at_idx ON call_callbacks_parked (parked_at);

-- Bumped by every statement that changes tracked_phone_numbers, whoever runs it (the API,
-- the CLI, the platform's own SQL); each serve process polls this one row and reloads its
-- in-memory routing copy when it moved.
CREATE TABLE calltrack_routing_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    version   BIGINT NOT NULL DEFAULT 0
);
INSERT INTO calltrack_routing_version DEFAULT VALUES;

-- SECURITY DEFINER: the restricted API role changes numbers but has no rights on this table.
CREATE FUNCTION calltrack_bump_routing_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE calltrack_routing_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tracked_phone_numbers_routing_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tracked_phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_bump_routing_version();
