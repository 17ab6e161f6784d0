-- Tracked-number lifecycle at Twilio, and indexes for statistics and the session list.

-- A released number stays as an inactive row for history; released_at tells it apart from
-- a number that is merely switched off (which may be switched on again).
ALTER TABLE tracked_phone_numbers
    ADD COLUMN released_at timestamptz,
    ADD COLUMN friendly_name text;

-- Numbers bought at Twilio whose row could not be stored: releasing them again is retried
-- until it succeeds, so no number is paid for and lost.
CREATE TABLE number_releases_pending (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_sid  text NOT NULL UNIQUE,
    phone_number  text,
    reason        text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz
);

CREATE INDEX number_releases_pending_open_idx
    ON number_releases_pending (created_at) WHERE released_at IS NULL;

-- Managers buy, change and release numbers through the API under the restricted role.
GRANT INSERT, UPDATE ON tracked_phone_numbers TO calltrack_api;

-- Campaign statistics read every session of a campaign: with these columns included the
-- scan is index-only. It replaces the plain (campaign_id, created_at DESC) index.
CREATE INDEX call_sessions_campaign_stats_idx ON call_sessions (campaign_id, created_at DESC)
    INCLUDE (caller_phone, match_status, call_status, call_answered_at, talk_seconds, recording_sid);
DROP INDEX call_sessions_campaign_id_created_at_idx;

-- The unfiltered session list (admins) and the last-24-hours gauge walk sessions by age.
CREATE INDEX call_sessions_created_at_idx ON call_sessions (created_at DESC, id DESC);
