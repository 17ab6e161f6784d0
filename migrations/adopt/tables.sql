-- Adoption: calltrack's own tables, as migrations V3 to V9 leave them, for a database whose
-- platform tables already exist. Run in the adoption's one transaction; every statement is
-- idempotent so an adoption cut off after this transaction resumes cleanly.

CREATE TABLE IF NOT EXISTS calltrack_adoption (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The last standalone migration the adoption stands in for; later ones apply as usual.
    baseline    integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    -- NULL until the indexes are built and the added columns filled in.
    finished_at timestamptz
);

CREATE TABLE IF NOT EXISTS sms_outbox (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    condition_met_id uuid NOT NULL UNIQUE REFERENCES call_conditions_met (id),
    to_phone         text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN (
                         'pending', 'sending', 'sent', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    sending_since    timestamptz,
    message_sid      text UNIQUE,
    error_code       integer,
    error_message    text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sms_outbox_due_idx
    ON sms_outbox (next_attempt_at) WHERE state IN ('pending', 'sending');

CREATE TABLE IF NOT EXISTS audit_log (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    actor_user_id   uuid,
    actor_client_id uuid,
    action          text NOT NULL,
    entity_type     text NOT NULL,
    entity_id       uuid,
    details         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX IF NOT EXISTS audit_log_created_at_idx ON audit_log (created_at);

CREATE TABLE IF NOT EXISTS number_releases_pending (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_sid  text NOT NULL UNIQUE,
    phone_number  text,
    reason        text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz
);
CREATE INDEX IF NOT EXISTS number_releases_pending_open_idx
    ON number_releases_pending (created_at) WHERE released_at IS NULL;

CREATE TABLE IF NOT EXISTS sms_status_parked (
    message_sid text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('delivered', 'failed', 'undelivered')),
    error_code  integer,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS spool_applied (
    record_id  uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS spool_applied_applied_at_idx ON spool_applied (applied_at);

CREATE TABLE IF NOT EXISTS call_callbacks_parked (
    id                 bigserial PRIMARY KEY,
    call_sid           text NOT NULL,
    kind               text NOT NULL CONSTRAINT call_callbacks_parked_kind_check
                           CHECK (kind IN ('progress', 'recording', 'voicemail')),
    call_status        text,
    answered_at        timestamptz,
    ended_at           timestamptz,
    duration_seconds   integer,
    talk_seconds       integer,
    recording_sid      text,
    recording_url      text,
    recording_duration integer,
    recording_status   text,
    parked_at          timestamptz NOT NULL DEFAULT now(),
    leg_status         text,
    accepted_at        timestamptz
);
CREATE INDEX IF NOT EXISTS call_callbacks_parked_call_sid_idx ON call_callbacks_parked (call_sid);
CREATE INDEX IF NOT EXISTS call_callbacks_parked_parked_at_idx ON call_callbacks_parked (parked_at);

CREATE TABLE IF NOT EXISTS calltrack_routing_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO calltrack_routing_version DEFAULT VALUES ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS reconcile_runs (
    id                 bigserial PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('serve', 'cli')),
    window_start       timestamptz NOT NULL,
    window_end         timestamptz NOT NULL CHECK (window_end >= window_start),
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    error              text,
    calls_seen         integer,
    sessions_created   integer,
    statuses_completed integer,
    children_applied   integer
);
CREATE INDEX IF NOT EXISTS reconcile_runs_finished_window_end_idx
    ON reconcile_runs (kind, window_end DESC) WHERE finished_at IS NOT NULL;
