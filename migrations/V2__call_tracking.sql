-- calltrack's own additions to the platform schema.

-- E.164 with the US as default region. Other systems write recipient phones as typed
-- ('(415) 555-0100', '415.555.0100 ext. 12', ...), so matching a caller needs one canonical
-- form computed in the database. Anything after the first x/# that follows a digit is an
-- extension ('ext', 'ext.' and 'x' all contain an x). E.164 country codes never start
-- with 0, so '+0...' and '000...' give NULL.
CREATE FUNCTION calltrack_phone_e164(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN (
    SELECT CASE
        WHEN d = '' THEN NULL
        WHEN intl IS NOT NULL THEN CASE WHEN intl ~ '^[1-9][0-9]{7,14}$' THEN '+' || intl END
        WHEN length(d) = 10 THEN '+1' || d
        WHEN length(d) = 11 AND d LIKE '1%' THEN '+' || d
    END
    FROM (
        SELECT d, CASE WHEN plus THEN d WHEN d LIKE '00%' THEN substr(d, 3) END AS intl
        FROM (
            SELECT left(t, 1) = '+' AS plus,
                   regexp_replace(regexp_replace(t, '^([^0-9]*[0-9][^xX#]*)[xX#].*$', '\1'),
                                  '[^0-9]', '', 'g') AS d
            FROM (SELECT regexp_replace(raw, '^\s+|\s+$', '', 'g') AS t) AS trimmed
        ) AS parsed
    ) AS classified
);

ALTER TABLE recipients
    ADD COLUMN phone_e164 text GENERATED ALWAYS AS (calltrack_phone_e164(phone)) STORED;

-- Caller matching: the campaign's recipient with the caller's number.
CREATE INDEX recipients_campaign_phone_e164_idx ON recipients (campaign_id, phone_e164);

-- call_sessions ---------------------------------------------------------------------------

-- status_rank makes "statuses only move forward" a single comparison in one UPDATE:
-- 0 none, 1 initiated, 2 ringing, 3 in-progress, 4 terminal.
ALTER TABLE call_sessions
    ADD COLUMN status_rank      smallint NOT NULL DEFAULT 0 CHECK (status_rank BETWEEN 0 AND 4),
    ADD COLUMN talk_seconds     integer,  -- the forwarded leg's talk time
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN recording_status text;

CREATE TRIGGER call_sessions_set_updated_at
    BEFORE UPDATE ON call_sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One session per CallSid, however often Twilio retries the voice webhook. It replaces the
-- plain index on the same column, and (campaign_id, created_at DESC) replaces the plain
-- (campaign_id) one: both old indexes would only cost writes. tracked_number_id is
-- already indexed by V1.
CREATE UNIQUE INDEX call_sessions_twilio_call_sid_key ON call_sessions (twilio_call_sid);
DROP INDEX call_sessions_twilio_call_sid_idx;
CREATE INDEX call_sessions_campaign_id_created_at_idx
    ON call_sessions (campaign_id, created_at DESC);
DROP INDEX call_sessions_campaign_id_idx;

-- tracked_phone_numbers -------------------------------------------------------------------

-- A released number stays as an inactive row and may be bought again later, so only the
-- active rows must be unique.
CREATE UNIQUE INDEX tracked_phone_numbers_active_phone_number_key
    ON tracked_phone_numbers (phone_number) WHERE is_active;

ALTER TABLE tracked_phone_numbers
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT tracked_phone_numbers_phone_number_e164_check
        CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$');

CREATE TRIGGER tracked_phone_numbers_set_updated_at
    BEFORE UPDATE ON tracked_phone_numbers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
