-- What really happened on a call (call_outcome) and the facts it is settled from; the
-- per-number call flow (whisper, screening, voicemail, business hours); caller facts.

-- call_sessions ---------------------------------------------------------------------------

ALTER TABLE call_sessions
    -- answered | missed | voicemail | abandoned; NULL while the call is live.
    ADD COLUMN IF NOT EXISTS call_outcome text
        CHECK (call_outcome IN ('answered', 'missed', 'voicemail', 'abandoned')),
    -- The forwarded leg's own status (child callbacks, DialCallStatus), forward only.
    ADD COLUMN IF NOT EXISTS leg_status text
        CHECK (leg_status IN ('initiated', 'ringing', 'in-progress', 'completed', 'busy',
            'no-answer', 'failed', 'canceled')),
    -- Whether the number screened this call (a key press accepts it): then only the key
    -- press, not the leg's pick-up, means a person took the call.
    ADD COLUMN IF NOT EXISTS screened boolean NOT NULL DEFAULT false,
    -- STIR/SHAKEN verification of the caller ID (Twilio's StirVerstat), as sent.
    ADD COLUMN IF NOT EXISTS caller_verstat text,
    -- The message left in calltrack's voicemail, when one was.
    ADD COLUMN IF NOT EXISTS voicemail_sid text,
    ADD COLUMN IF NOT EXISTS voicemail_url text,
    ADD COLUMN IF NOT EXISTS voicemail_duration integer;

-- Ranks a forwarded leg's statuses: forward only, as status_rank does, except that among
-- the ends `canceled` wins. The leg's own callback says `canceled` when the caller hung up
-- while it rang, and the dial action may call the same end `no-answer`; the caller hanging
-- up is what happened, whichever of the two arrives first.
CREATE OR REPLACE FUNCTION calltrack_status_rank(status text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'initiated' THEN 1 WHEN 'ringing' THEN 2 WHEN 'in-progress' THEN 3
        WHEN 'completed' THEN 4 WHEN 'busy' THEN 4 WHEN 'no-answer' THEN 4
        WHEN 'failed' THEN 4 WHEN 'canceled' THEN 5 ELSE 0 END::smallint
$$;

-- The outcome from the facts, whatever order they arrived in. A person took the call only
-- when call_answered_at is set (the updates never set it for a screened leg that was not
-- accepted). A leg that completed without that was picked up by a machine or never
-- accepted: missed. A call that ended with no leg outcome at all ended before the business
-- was rung: abandoned, unless the call itself failed, was busy or went unanswered.
CREATE OR REPLACE FUNCTION calltrack_call_outcome(
    voicemail_sid text, answered_at timestamptz, leg_status text, call_status text,
    status_rank smallint
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN voicemail_sid IS NOT NULL THEN 'voicemail'
        WHEN answered_at IS NOT NULL THEN 'answered'
        WHEN leg_status IN ('busy', 'no-answer', 'failed', 'completed') THEN 'missed'
        WHEN leg_status = 'canceled' THEN 'abandoned'
        WHEN status_rank = 4 AND call_status IN ('busy', 'no-answer', 'failed') THEN 'missed'
        WHEN status_rank = 4 THEN 'abandoned'
    END
$$;

CREATE OR REPLACE FUNCTION calltrack_settle_call_outcome() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.call_outcome := calltrack_call_outcome(NEW.voicemail_sid, NEW.call_answered_at,
        NEW.leg_status, NEW.call_status, NEW.status_rank);
    RETURN NEW;
END
$$;

CREATE TRIGGER call_sessions_settle_call_outcome
    BEFORE INSERT OR UPDATE OF voicemail_sid, call_answered_at, leg_status, call_status,
        status_rank
    ON call_sessions
    FOR EACH ROW EXECUTE FUNCTION calltrack_settle_call_outcome();

-- Existing rows: settled from what they hold (they have no leg_status yet).
UPDATE call_sessions SET call_status = call_status WHERE status_rank = 4;

-- Stats count outcomes: the covering index of V4 gains call_outcome, so they stay an
-- index-only scan.
CREATE INDEX IF NOT EXISTS call_sessions_campaign_outcome_stats_idx
    ON call_sessions (campaign_id, created_at DESC)
    INCLUDE (caller_phone, match_status, call_status, call_outcome, call_answered_at,
        talk_seconds, recording_sid);
DROP INDEX IF EXISTS call_sessions_campaign_stats_idx;

-- tracked_phone_numbers ---------------------------------------------------------------------

ALTER TABLE tracked_phone_numbers
    ADD COLUMN IF NOT EXISTS whisper text,
    -- NULL: the default, which is true when a whisper is set.
    ADD COLUMN IF NOT EXISTS require_keypress boolean,
    ADD COLUMN IF NOT EXISTS voicemail boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS voicemail_greeting text,
    -- {"timezone": "America/Chicago", "weekly": {"mon": [["08:00","17:00"]], ...}}
    ADD COLUMN IF NOT EXISTS business_hours jsonb;

-- Parked callbacks carry the new facts too, and voicemails may be parked.
ALTER TABLE call_callbacks_parked
    ADD COLUMN IF NOT EXISTS leg_status text,
    ADD COLUMN IF NOT EXISTS accepted_at timestamptz;
ALTER TABLE call_callbacks_parked DROP CONSTRAINT call_callbacks_parked_kind_check;
ALTER TABLE call_callbacks_parked ADD CONSTRAINT call_callbacks_parked_kind_check
    CHECK (kind IN ('progress', 'recording', 'voicemail'));
