-- Unique callers of a range that runs to now ("the last 30 days") from the rollups, not by
-- grouping every session of the range: a caller called since `from` exactly when their last
-- call of the campaign is at or after `from`. So each caller's last call is kept by the hour
-- (campaign_callers.last_call_hour) and counted into the hourly rollups (last_callers: the
-- callers whose last call falls in that hour), as V11 does with first calls. The hour, not
-- the time: a caller who calls again within the hour changes nothing, and the ragged start
-- of a range is settled from that hour's sessions.

-- Room on each page for the updated row, so the update is a heap-only one (no index entry):
-- last_call_hour is in no index.
ALTER TABLE campaign_callers SET (fillfactor = 80),
    ADD COLUMN last_call_hour timestamptz,
    ADD COLUMN replaced_last_call_hour timestamptz;

ALTER TABLE campaign_call_hours ADD COLUMN last_callers bigint NOT NULL DEFAULT 0;
ALTER TABLE campaign_call_totals ADD COLUMN last_callers bigint NOT NULL DEFAULT 0;
ALTER TABLE campaign_call_changes ADD COLUMN last_callers bigint NOT NULL DEFAULT 0;

-- Inserted sessions: one statement counts the calls, and upserts each caller, which moves the
-- caller's first call earlier (a late webhook, a replay) or last call later (a call back) and
-- counts the move out of the old hour and into the new. An upsert, not an update: it
-- finds the row a concurrent recount wrote even when this statement's snapshot predates it.
-- A row whose last hour is unknown (its campaign waits for calltrack_recount_campaign, which
-- counts it again) takes the hour and counts nothing for it.
CREATE OR REPLACE FUNCTION calltrack_count_inserted_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    WITH f AS (
        SELECT campaign_id, caller_phone, min(created_at) AS first_at,
               calltrack_hour(max(created_at)) AS last_hour
        FROM new_calls WHERE caller_phone IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
    ), upserted AS (
        INSERT INTO campaign_callers AS k (campaign_id, caller_phone, first_call_at,
            last_call_hour)
        SELECT campaign_id, caller_phone, first_at, last_hour FROM f
        ON CONFLICT (campaign_id, caller_phone) DO UPDATE SET
            replaced_first_call_at = k.first_call_at,
            first_call_at = least(k.first_call_at, excluded.first_call_at),
            replaced_last_call_hour = k.last_call_hour,
            last_call_hour = greatest(k.last_call_hour, excluded.last_call_hour)
        WHERE excluded.first_call_at < k.first_call_at
           OR excluded.last_call_hour > k.last_call_hour OR k.last_call_hour IS NULL
        -- An inserted row has no replaced first call; an updated one always has.
        RETURNING k.campaign_id, k.first_call_at, k.replaced_first_call_at, k.last_call_hour,
            k.replaced_last_call_hour
    ), moves AS (
        SELECT campaign_id, calltrack_hour(first_call_at) AS hour, 1 AS new_callers,
               0 AS last_callers
        FROM upserted
        WHERE replaced_first_call_at IS DISTINCT FROM first_call_at
        UNION ALL
        SELECT campaign_id, calltrack_hour(replaced_first_call_at), -1, 0
        FROM upserted
        WHERE replaced_first_call_at IS NOT NULL AND replaced_first_call_at <> first_call_at
        UNION ALL
        SELECT campaign_id, last_call_hour, 0, 1
        FROM upserted
        WHERE replaced_first_call_at IS NULL
           OR (replaced_last_call_hour IS NOT NULL AND replaced_last_call_hour <> last_call_hour)
        UNION ALL
        SELECT campaign_id, replaced_last_call_hour, 0, -1
        FROM upserted
        WHERE replaced_first_call_at IS NOT NULL AND replaced_last_call_hour <> last_call_hour
    ), callers AS (
        SELECT campaign_id, hour, sum(new_callers) AS new_callers,
               sum(last_callers) AS last_callers
        FROM moves GROUP BY 1, 2
    ), calls AS (
        SELECT campaign_id, calltrack_hour(created_at) AS hour, count(*) AS calls,
            count(*) FILTER (WHERE match_status::text = 'matched') AS matched,
            count(*) FILTER (WHERE match_status::text = 'unmatched') AS unmatched,
            count(*) FILTER (WHERE call_outcome = 'answered') AS answered,
            count(*) FILTER (WHERE call_outcome = 'missed') AS missed,
            count(*) FILTER (WHERE call_outcome = 'voicemail') AS voicemail,
            count(*) FILTER (WHERE call_outcome = 'abandoned') AS abandoned,
            count(*) FILTER (WHERE call_outcome IS NULL) AS live,
            coalesce(sum(talk_seconds) FILTER (WHERE call_answered_at IS NOT NULL), 0) AS talk_seconds,
            count(talk_seconds) FILTER (WHERE call_answered_at IS NOT NULL) AS talked,
            count(*) FILTER (WHERE recording_sid IS NOT NULL) AS recorded
        FROM new_calls GROUP BY 1, 2
    )
    INSERT INTO campaign_call_changes (campaign_id, hour, calls, matched, unmatched, answered,
        missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers,
        last_callers)
    SELECT coalesce(c.campaign_id, k.campaign_id), coalesce(c.hour, k.hour),
        coalesce(c.calls, 0), coalesce(c.matched, 0), coalesce(c.unmatched, 0),
        coalesce(c.answered, 0), coalesce(c.missed, 0), coalesce(c.voicemail, 0),
        coalesce(c.abandoned, 0), coalesce(c.live, 0), coalesce(c.talk_seconds, 0),
        coalesce(c.talked, 0), coalesce(c.recorded, 0), coalesce(k.new_callers, 0),
        coalesce(k.last_callers, 0)
    FROM calls c
    FULL JOIN callers k ON k.campaign_id = c.campaign_id AND k.hour = c.hour
    WHERE c.calls IS NOT NULL OR k.new_callers <> 0 OR k.last_callers <> 0;
    RETURN NULL;
END
$$;

-- Callers whose sessions were deleted or moved: their first and last calls are looked up
-- again in the facts, one pass over each affected campaign's sessions.
CREATE OR REPLACE FUNCTION calltrack_recount_callers(campaigns uuid[], callers text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    campaign uuid;
    affected text[];
BEGIN
    FOR campaign, affected IN
        SELECT u.campaign_id, array_agg(DISTINCT u.caller_phone)
        FROM unnest(campaigns, callers) AS u(campaign_id, caller_phone)
        WHERE u.caller_phone IS NOT NULL
        GROUP BY 1 ORDER BY 1
    LOOP
        PERFORM 1 FROM campaign_callers
        WHERE campaign_id = campaign AND caller_phone = ANY (affected)
        ORDER BY caller_phone FOR UPDATE;
        WITH actual AS (
            SELECT s.caller_phone, min(s.created_at) AS first_call_at,
                   calltrack_hour(max(s.created_at)) AS last_call_hour
            FROM call_sessions s
            WHERE s.campaign_id = campaign AND s.caller_phone = ANY (affected)
            GROUP BY 1
        ), diff AS (
            SELECT a.caller_phone, k.first_call_at AS stored, t.first_call_at AS counted,
                   k.last_call_hour AS stored_last, t.last_call_hour AS counted_last
            FROM unnest(affected) AS a(caller_phone)
            LEFT JOIN campaign_callers k
              ON k.campaign_id = campaign AND k.caller_phone = a.caller_phone
            LEFT JOIN actual t ON t.caller_phone = a.caller_phone
            WHERE (k.first_call_at, k.last_call_hour)
                  IS DISTINCT FROM (t.first_call_at, t.last_call_hour)
        ), dropped AS (
            DELETE FROM campaign_callers k USING diff d
            WHERE k.campaign_id = campaign AND k.caller_phone = d.caller_phone
              AND d.counted IS NULL
        ), moved AS (
            UPDATE campaign_callers k
            SET first_call_at = d.counted, last_call_hour = d.counted_last
            FROM diff d
            WHERE k.campaign_id = campaign AND k.caller_phone = d.caller_phone
              AND d.stored IS NOT NULL AND d.counted IS NOT NULL
        ), added AS (
            -- A caller another transaction counted meanwhile keeps that count.
            INSERT INTO campaign_callers (campaign_id, caller_phone, first_call_at,
                last_call_hour)
            SELECT campaign, d.caller_phone, d.counted, d.counted_last FROM diff d
            WHERE d.stored IS NULL AND d.counted IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING first_call_at, last_call_hour
        )
        INSERT INTO campaign_call_changes (campaign_id, hour, new_callers, last_callers)
        SELECT campaign, x.hour, sum(x.first), sum(x.last) FROM (
            SELECT calltrack_hour(d.stored) AS hour, -1 AS first, 0 AS last FROM diff d
            WHERE d.stored IS NOT NULL
            UNION ALL
            SELECT calltrack_hour(d.counted), 1, 0 FROM diff d
            WHERE d.stored IS NOT NULL AND d.counted IS NOT NULL
            UNION ALL
            SELECT d.stored_last, 0, -1 FROM diff d
            WHERE d.stored IS NOT NULL AND d.stored_last IS NOT NULL
            UNION ALL
            SELECT d.counted_last, 0, 1 FROM diff d
            WHERE d.stored IS NOT NULL AND d.stored_last IS NOT NULL AND d.counted IS NOT NULL
            UNION ALL
            SELECT calltrack_hour(a.first_call_at), 1, 0 FROM added a
            UNION ALL
            SELECT a.last_call_hour, 0, 1 FROM added a
        ) x
        GROUP BY 1, 2
        HAVING sum(x.first) <> 0 OR sum(x.last) <> 0;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION calltrack_fold_rollup_changes(only_campaign uuid, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    calls_folded bigint;
    conditions_folded bigint;
BEGIN
    WITH d AS (
        DELETE FROM campaign_call_changes c
        WHERE c.ctid = ANY (ARRAY(
            SELECT ctid FROM campaign_call_changes
            WHERE only_campaign IS NULL OR campaign_id = only_campaign
            LIMIT max_rows))
        RETURNING c.*
    ), h AS (
        INSERT INTO campaign_call_hours AS r (campaign_id, hour, calls, matched, unmatched, answered, missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers, last_callers)
        SELECT campaign_id, hour, sum(calls), sum(matched), sum(unmatched), sum(answered), sum(missed), sum(voicemail), sum(abandoned), sum(live), sum(talk_seconds), sum(talked), sum(recorded), sum(new_callers), sum(last_callers)
        FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (campaign_id, hour) DO UPDATE SET
            calls = r.calls + excluded.calls,
            matched = r.matched + excluded.matched,
            unmatched = r.unmatched + excluded.unmatched,
            answered = r.answered + excluded.answered,
            missed = r.missed + excluded.missed,
            voicemail = r.voicemail + excluded.voicemail,
            abandoned = r.abandoned + excluded.abandoned,
            live = r.live + excluded.live,
            talk_seconds = r.talk_seconds + excluded.talk_seconds,
            talked = r.talked + excluded.talked,
            recorded = r.recorded + excluded.recorded,
            new_callers = r.new_callers + excluded.new_callers,
            last_callers = r.last_callers + excluded.last_callers
    ), t AS (
        INSERT INTO campaign_call_totals AS r (campaign_id, calls, matched, unmatched, answered, missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers, last_callers)
        SELECT campaign_id, sum(calls), sum(matched), sum(unmatched), sum(answered), sum(missed), sum(voicemail), sum(abandoned), sum(live), sum(talk_seconds), sum(talked), sum(recorded), sum(new_callers), sum(last_callers)
        FROM d GROUP BY 1 ORDER BY 1
        ON CONFLICT (campaign_id) DO UPDATE SET
            calls = r.calls + excluded.calls,
            matched = r.matched + excluded.matched,
            unmatched = r.unmatched + excluded.unmatched,
            answered = r.answered + excluded.answered,
            missed = r.missed + excluded.missed,
            voicemail = r.voicemail + excluded.voicemail,
            abandoned = r.abandoned + excluded.abandoned,
            live = r.live + excluded.live,
            talk_seconds = r.talk_seconds + excluded.talk_seconds,
            talked = r.talked + excluded.talked,
            recorded = r.recorded + excluded.recorded,
            new_callers = r.new_callers + excluded.new_callers,
            last_callers = r.last_callers + excluded.last_callers
    )
    SELECT count(*) INTO calls_folded FROM d;

    WITH d AS (
        DELETE FROM campaign_condition_changes c
        WHERE c.ctid = ANY (ARRAY(
            SELECT ctid FROM campaign_condition_changes
            WHERE only_campaign IS NULL OR campaign_id = only_campaign
            LIMIT max_rows))
        RETURNING c.*
    ), h AS (
        INSERT INTO campaign_condition_hours AS r (campaign_id, hour, condition_number, met, provisioned, sent, delivered, failed, pending, no_phone)
        SELECT campaign_id, hour, condition_number, sum(met), sum(provisioned), sum(sent), sum(delivered), sum(failed), sum(pending), sum(no_phone)
        FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, hour, condition_number) DO UPDATE SET
            met = r.met + excluded.met,
            provisioned = r.provisioned + excluded.provisioned,
            sent = r.sent + excluded.sent,
            delivered = r.delivered + excluded.delivered,
            failed = r.failed + excluded.failed,
            pending = r.pending + excluded.pending,
            no_phone = r.no_phone + excluded.no_phone
    ), t AS (
        INSERT INTO campaign_condition_totals AS r (campaign_id, condition_number, met, provisioned, sent, delivered, failed, pending, no_phone)
        SELECT campaign_id, condition_number, sum(met), sum(provisioned), sum(sent), sum(delivered), sum(failed), sum(pending), sum(no_phone)
        FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (campaign_id, condition_number) DO UPDATE SET
            met = r.met + excluded.met,
            provisioned = r.provisioned + excluded.provisioned,
            sent = r.sent + excluded.sent,
            delivered = r.delivered + excluded.delivered,
            failed = r.failed + excluded.failed,
            pending = r.pending + excluded.pending,
            no_phone = r.no_phone + excluded.no_phone
    )
    SELECT count(*) INTO conditions_folded FROM d;
    RETURN calls_folded + conditions_folded;
END
$$;

CREATE OR REPLACE FUNCTION calltrack_recount_campaign(campaign uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_call_changes WHERE campaign_id = campaign;
    DELETE FROM campaign_call_hours WHERE campaign_id = campaign;
    DELETE FROM campaign_call_totals WHERE campaign_id = campaign;
    DELETE FROM campaign_callers WHERE campaign_id = campaign;
    DELETE FROM campaign_condition_changes WHERE campaign_id = campaign;
    DELETE FROM campaign_condition_hours WHERE campaign_id = campaign;
    DELETE FROM campaign_condition_totals WHERE campaign_id = campaign;

    PERFORM calltrack_change_call_counts(array_agg(calltrack_call_fact(s)), '{}')
    FROM call_sessions s WHERE s.campaign_id = campaign
    GROUP BY calltrack_hour(s.created_at);
    INSERT INTO campaign_callers (campaign_id, caller_phone, first_call_at, last_call_hour)
    SELECT campaign, caller_phone, min(created_at), calltrack_hour(max(created_at))
    FROM call_sessions
    WHERE campaign_id = campaign AND caller_phone IS NOT NULL
    GROUP BY caller_phone;
    INSERT INTO campaign_call_changes (campaign_id, hour, new_callers, last_callers)
    SELECT campaign, hour, sum(first), sum(last) FROM (
        SELECT calltrack_hour(first_call_at) AS hour, 1 AS first, 0 AS last
        FROM campaign_callers WHERE campaign_id = campaign
        UNION ALL
        SELECT last_call_hour, 0, 1 FROM campaign_callers WHERE campaign_id = campaign
    ) x
    GROUP BY 1, 2;
    PERFORM calltrack_change_condition_counts(array_agg(calltrack_condition_fact(m)), '{}')
    FROM call_conditions_met m WHERE m.campaign_id = campaign
    GROUP BY calltrack_hour(m.met_at);

    PERFORM calltrack_fold_rollup_changes(campaign, NULL);
    DELETE FROM calltrack_rollup_fill WHERE campaign_id = campaign;
END
$$;

-- Campaigns counted before this migration have no last calls yet: they are counted again
-- (their statistics read from the facts until then), as V11's fill counted them first.
INSERT INTO calltrack_rollup_fill (campaign_id)
SELECT campaign_id FROM campaign_callers GROUP BY 1
ON CONFLICT DO NOTHING;

-- Updated and deleted sessions. Most updates (a status callback moving a call from ringing
-- to in progress) change nothing counted: the columns a count or a caller depends on are
-- compared first, so only the rows that differ are made into facts (building a fact reads the
-- whole row).
CREATE OR REPLACE FUNCTION calltrack_count_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    added calltrack_call_fact[];
    removed calltrack_call_fact[];
    campaigns uuid[];
    callers text[];
    moved boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(d.fn) FILTER (WHERE d.fn IS DISTINCT FROM d.fo),
               array_agg(d.fo) FILTER (WHERE d.fn IS DISTINCT FROM d.fo),
               coalesce(bool_or(d.moved), false)
        INTO added, removed, moved
        FROM (SELECT calltrack_call_fact(n) AS fn, calltrack_call_fact(o) AS fo,
                     (n.campaign_id, n.caller_phone, n.created_at)
                         IS DISTINCT FROM (o.campaign_id, o.caller_phone, o.created_at) AS moved
              FROM new_calls n JOIN old_calls o ON o.id = n.id
              WHERE (n.campaign_id, n.created_at, n.caller_phone, n.match_status::text,
                     n.call_outcome, n.call_answered_at IS NULL, n.talk_seconds,
                     n.recording_sid IS NULL)
                    IS DISTINCT FROM
                    (o.campaign_id, o.created_at, o.caller_phone, o.match_status::text,
                     o.call_outcome, o.call_answered_at IS NULL, o.talk_seconds,
                     o.recording_sid IS NULL)) d;
        IF added IS NOT NULL THEN
            PERFORM calltrack_change_call_counts(added, removed);
        END IF;
        IF moved THEN
            SELECT array_agg(k.campaign_id), array_agg(k.caller_phone) INTO campaigns, callers
            FROM (SELECT o.campaign_id, o.caller_phone FROM old_calls o
                  UNION
                  SELECT n.campaign_id, n.caller_phone FROM new_calls n) k;
            PERFORM calltrack_recount_callers(campaigns, callers);
        END IF;
    ELSE
        SELECT array_agg(calltrack_call_fact(o)), array_agg(o.campaign_id),
               array_agg(o.caller_phone)
        INTO removed, campaigns, callers FROM old_calls o;
        IF removed IS NOT NULL THEN
            PERFORM calltrack_change_call_counts('{}', removed);
            PERFORM calltrack_recount_callers(campaigns, callers);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
