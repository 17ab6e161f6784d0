-- Setting up a campaign without SQL: campaigns, recipients, conditions, rewards, pools and
-- cards written through the API. Runs on standalone and adopted databases alike.

-- Writing campaigns.status: text with a CHECK standalone, the platform's enum after adoption
-- (the same reason and shape as V10's functions).
DO $$
DECLARE
    col_type text;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod) INTO STRICT col_type
    FROM pg_attribute a
    WHERE a.attrelid = 'campaigns'::regclass AND a.attname = 'status' AND NOT a.attisdropped;
    EXECUTE format('CREATE OR REPLACE FUNCTION calltrack_as_campaign_status(v text) RETURNS %s '
                   'LANGUAGE sql STABLE PARALLEL SAFE AS %L',
                   col_type, format('SELECT v::%s', col_type));
END
$$;

-- How long the campaign's call recordings are kept at Twilio, in days; NULL keeps them until
-- someone deletes them (the behaviour before this column).
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS recording_retention_days integer;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'campaigns'::regclass
                     AND conname = 'calltrack_campaigns_recording_retention_check') THEN
        ALTER TABLE campaigns ADD CONSTRAINT calltrack_campaigns_recording_retention_check
            CHECK (recording_retention_days BETWEEN 1 AND 36500) NOT VALID;
    END IF;
END
$$;

-- A campaign's recipients page by redemption code in bytewise order (the same on every
-- database, whatever its collation), and a search by a code's prefix is a range of it; where
-- (campaign_id) alone would sort a million rows for every page. A last name's prefix has an
-- index of its own, so a search that matches no one reads no one.
CREATE INDEX IF NOT EXISTS calltrack_recipients_campaign_code_idx
    ON recipients (campaign_id, (redemption_code COLLATE "C"));
CREATE INDEX IF NOT EXISTS calltrack_recipients_campaign_last_name_idx
    ON recipients (campaign_id, lower(last_name) text_pattern_ops);

-- The setup API writes as the restricted role, so row security checks every row it writes
-- against the caller's clients (a policy's USING is also its WITH CHECK). Brands are shared
-- by every client and have no calltrack policy: they are found or made with the service's own
-- rights after the caller's access to the pool's client was checked.
GRANT INSERT, UPDATE ON campaigns, recipients, campaign_conditions, campaign_reward_configs,
    gift_card_pools, gift_cards TO calltrack_api;
