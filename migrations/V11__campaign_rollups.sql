-- What a manager looks at (a campaign's counts, by hour) kept as rollups by the transactions
-- that change the facts, so no page scans a campaign's sessions per request.
--
-- Statement-level triggers on call_sessions and call_conditions_met turn each statement's
-- rows into one change row per campaign and hour (a group-commit batch of a hundred calls is
-- one statement, so one change row). Changes are appended, never updated, so concurrent
-- writers of one busy campaign never wait on a shared counter row; the rollup worker folds
-- them into the hourly and total rows in the background. Readers add the pending changes
-- to the folded rows, so an answer never lags the facts.

-- The hour a fact is counted in: a UTC hour, whatever the session's TimeZone.
CREATE FUNCTION calltrack_hour(at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN date_trunc('hour', at, 'UTC');

-- Calls ----------------------------------------------------------------------------------

-- The counters of one campaign's calls; talk_seconds and talked are the sum and count of
-- the talk times of answered calls (the mean is their quotient); new_callers counts the
-- callers whose first call of the campaign falls in the hour.
CREATE TABLE campaign_call_hours (
    campaign_id uuid NOT NULL,
    hour        timestamptz NOT NULL,
    calls       bigint NOT NULL DEFAULT 0,
    matched     bigint NOT NULL DEFAULT 0,
    unmatched   bigint NOT NULL DEFAULT 0,
    answered    bigint NOT NULL DEFAULT 0,
    missed      bigint NOT NULL DEFAULT 0,
    voicemail   bigint NOT NULL DEFAULT 0,
    abandoned   bigint NOT NULL DEFAULT 0,
    live        bigint NOT NULL DEFAULT 0,
    talk_seconds bigint NOT NULL DEFAULT 0,
    talked      bigint NOT NULL DEFAULT 0,
    recorded    bigint NOT NULL DEFAULT 0,
    new_callers bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, hour)
);

CREATE TABLE campaign_call_totals (LIKE campaign_call_hours INCLUDING DEFAULTS);
ALTER TABLE campaign_call_totals DROP COLUMN hour, ADD PRIMARY KEY (campaign_id);

-- Changes not folded in yet; appended by the triggers, emptied by the rollup worker.
CREATE TABLE campaign_call_changes (LIKE campaign_call_hours INCLUDING DEFAULTS);
CREATE INDEX campaign_call_changes_campaign_idx ON campaign_call_changes (campaign_id, hour);

-- Busy queues: the worker empties them every second, so autovacuum should not wait for a
-- fifth of the table to be dead before it reclaims the deleted rows readers step over.
ALTER TABLE campaign_call_changes SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_cost_delay = 0);

-- Each caller's first call of each campaign: what makes unique callers additive by hour.
-- replaced_first_call_at holds the time a late, earlier call replaced, so the trigger can
-- move the caller's count from that hour in the same statement.
CREATE TABLE campaign_callers (
    campaign_id   uuid NOT NULL,
    caller_phone  text NOT NULL,
    first_call_at timestamptz NOT NULL,
    replaced_first_call_at timestamptz,
    PRIMARY KEY (campaign_id, caller_phone)
);

-- What one session counts for; a call with no outcome yet is live.
CREATE TYPE calltrack_call_fact AS (
    campaign_id  uuid,
    created_at   timestamptz,
    match_status text,
    call_outcome text,
    talk_seconds integer,
    recorded     boolean
);

CREATE FUNCTION calltrack_call_fact(s call_sessions) RETURNS calltrack_call_fact
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ROW(s.campaign_id, s.created_at, s.match_status::text, s.call_outcome,
    CASE WHEN s.call_answered_at IS NOT NULL THEN s.talk_seconds END,
    s.recording_sid IS NOT NULL)::calltrack_call_fact;

-- Appends the difference `added` minus `removed` makes, one row per campaign and hour,
-- none where it makes none. PL/pgSQL, not SQL, for its cached plan: a trigger runs it with
-- every write.
CREATE FUNCTION calltrack_change_call_counts(added calltrack_call_fact[],
    removed calltrack_call_fact[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_call_changes (campaign_id, hour, calls, matched, unmatched, answered,
        missed, voicemail, abandoned, live, talk_seconds, talked, recorded)
    SELECT * FROM (
        SELECT f.campaign_id, calltrack_hour(f.created_at) AS hour,
            sum(f.sign) AS calls,
            sum(CASE WHEN f.match_status = 'matched' THEN f.sign ELSE 0 END) AS matched,
            sum(CASE WHEN f.match_status = 'unmatched' THEN f.sign ELSE 0 END) AS unmatched,
            sum(CASE WHEN f.call_outcome = 'answered' THEN f.sign ELSE 0 END) AS answered,
            sum(CASE WHEN f.call_outcome = 'missed' THEN f.sign ELSE 0 END) AS missed,
            sum(CASE WHEN f.call_outcome = 'voicemail' THEN f.sign ELSE 0 END) AS voicemail,
            sum(CASE WHEN f.call_outcome = 'abandoned' THEN f.sign ELSE 0 END) AS abandoned,
            sum(CASE WHEN f.call_outcome IS NULL THEN f.sign ELSE 0 END) AS live,
            sum(coalesce(f.talk_seconds, 0) * f.sign) AS talk_seconds,
            sum(CASE WHEN f.talk_seconds IS NOT NULL THEN f.sign ELSE 0 END) AS talked,
            sum(CASE WHEN f.recorded THEN f.sign ELSE 0 END) AS recorded
        FROM (SELECT a.*, 1 AS sign FROM unnest(added) a
              UNION ALL
              SELECT r.*, -1 AS sign FROM unnest(removed) r) f
        GROUP BY 1, 2
    ) c
    WHERE (c.calls, c.matched, c.unmatched, c.answered, c.missed, c.voicemail, c.abandoned,
           c.live, c.talk_seconds, c.talked, c.recorded) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
END
$$;

-- Callers whose sessions were deleted or moved (another campaign, number or time): their
-- first call is looked up again in the facts, with one pass over each affected campaign's
-- sessions (the covering stats index holds caller_phone) whatever the number of callers, so
-- deleting a day of calls from a campaign of millions costs one scan, not one per caller. No
-- calltrack statement does this today; it keeps the count true when retention, erasure or
-- the platform's own SQL does.
CREATE FUNCTION calltrack_recount_callers(campaigns uuid[], callers text[]) RETURNS void
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
            SELECT s.caller_phone, min(s.created_at) AS first_call_at
            FROM call_sessions s
            WHERE s.campaign_id = campaign AND s.caller_phone = ANY (affected)
            GROUP BY 1
        ), diff AS (
            SELECT a.caller_phone, k.first_call_at AS stored, t.first_call_at AS counted
            FROM unnest(affected) AS a(caller_phone)
            LEFT JOIN campaign_callers k
              ON k.campaign_id = campaign AND k.caller_phone = a.caller_phone
            LEFT JOIN actual t ON t.caller_phone = a.caller_phone
            WHERE k.first_call_at IS DISTINCT FROM t.first_call_at
        ), dropped AS (
            DELETE FROM campaign_callers k USING diff d
            WHERE k.campaign_id = campaign AND k.caller_phone = d.caller_phone
              AND d.counted IS NULL
        ), moved AS (
            UPDATE campaign_callers k SET first_call_at = d.counted FROM diff d
            WHERE k.campaign_id = campaign AND k.caller_phone = d.caller_phone
              AND d.stored IS NOT NULL AND d.counted IS NOT NULL
        ), added AS (
            -- A caller another transaction counted meanwhile keeps that count.
            INSERT INTO campaign_callers (campaign_id, caller_phone, first_call_at)
            SELECT campaign, d.caller_phone, d.counted FROM diff d
            WHERE d.stored IS NULL AND d.counted IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING first_call_at
        )
        INSERT INTO campaign_call_changes (campaign_id, hour, new_callers)
        SELECT campaign, x.hour, sum(x.n) FROM (
            SELECT calltrack_hour(d.stored) AS hour, -1 AS n FROM diff d
            WHERE d.stored IS NOT NULL
            UNION ALL
            SELECT calltrack_hour(d.counted), 1 FROM diff d
            WHERE d.stored IS NOT NULL AND d.counted IS NOT NULL
            UNION ALL
            SELECT calltrack_hour(a.first_call_at), 1 FROM added a
        ) x
        GROUP BY 1, 2
        HAVING sum(x.n) <> 0;
    END LOOP;
END
$$;

-- Inserted sessions, the path of every call: one statement counts them and their new
-- callers into one change row per campaign and hour. It counts as calltrack_call_fact and
-- calltrack_change_call_counts do (the recount's rules), written out so a call pays for one
-- statement; the rollup tests hold the two to the same answers.
CREATE FUNCTION calltrack_count_inserted_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    distinct_count bigint;
    inserted_count bigint;
BEGIN
    WITH f AS (
        SELECT campaign_id, caller_phone, min(created_at) AS at
        FROM new_calls WHERE caller_phone IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
    ), added AS (
        INSERT INTO campaign_callers (campaign_id, caller_phone, first_call_at)
        SELECT campaign_id, caller_phone, at FROM f
        ON CONFLICT (campaign_id, caller_phone) DO NOTHING
        RETURNING campaign_id, first_call_at
    ), firsts AS (
        SELECT campaign_id, calltrack_hour(first_call_at) AS hour, count(*) AS n
        FROM added GROUP BY 1, 2
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
    ), counted AS (
        INSERT INTO campaign_call_changes (campaign_id, hour, calls, matched, unmatched, answered,
            missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers)
        SELECT c.campaign_id, c.hour, c.calls, c.matched, c.unmatched, c.answered, c.missed,
            c.voicemail, c.abandoned, c.live, c.talk_seconds, c.talked, c.recorded, coalesce(a.n, 0)
        FROM calls c LEFT JOIN firsts a ON a.campaign_id = c.campaign_id AND a.hour = c.hour
    )
    SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM added)
    INTO distinct_count, inserted_count;
    -- Every caller was new: none can have called earlier than counted. Otherwise a second
    -- statement, with its own snapshot, sees a caller another transaction counted meanwhile
    -- and moves its first call earlier when this one came first (a late webhook, a replay).
    IF inserted_count = distinct_count THEN
        RETURN NULL;
    END IF;
    WITH f AS (
        SELECT campaign_id, caller_phone, min(created_at) AS at
        FROM new_calls WHERE caller_phone IS NOT NULL
        GROUP BY 1, 2
    ), moved AS (
        UPDATE campaign_callers k
        SET replaced_first_call_at = k.first_call_at, first_call_at = f.at
        FROM f
        WHERE k.campaign_id = f.campaign_id AND k.caller_phone = f.caller_phone
          AND f.at < k.first_call_at
        RETURNING k.campaign_id, k.first_call_at, k.replaced_first_call_at
    )
    INSERT INTO campaign_call_changes (campaign_id, hour, new_callers)
    SELECT campaign_id, hour, sum(n) FROM (
        SELECT campaign_id, calltrack_hour(first_call_at) AS hour, 1 AS n FROM moved
        UNION ALL
        SELECT campaign_id, calltrack_hour(replaced_first_call_at), -1 FROM moved
    ) m
    GROUP BY 1, 2
    HAVING sum(n) <> 0;
    RETURN NULL;
END
$$;

-- Updated and deleted sessions. These trigger functions run as their owner: an agent's
-- transaction (the restricted role) that links a caller or meets a condition changes the
-- rollups too, which that role may only read.
CREATE FUNCTION calltrack_count_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    added calltrack_call_fact[];
    removed calltrack_call_fact[];
    campaigns uuid[];
    callers text[];
    moved boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Most updates (a status callback) change no count and move no caller: one pass
        -- over the statement's rows tells.
        SELECT array_agg(d.fn) FILTER (WHERE d.fn IS DISTINCT FROM d.fo),
               array_agg(d.fo) FILTER (WHERE d.fn IS DISTINCT FROM d.fo),
               coalesce(bool_or(d.moved), false)
        INTO added, removed, moved
        FROM (SELECT calltrack_call_fact(n) AS fn, calltrack_call_fact(o) AS fo,
                     (n.campaign_id, n.caller_phone, n.created_at)
                         IS DISTINCT FROM (o.campaign_id, o.caller_phone, o.created_at) AS moved
              FROM new_calls n JOIN old_calls o ON o.id = n.id) d;
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

-- Transition tables allow one event per trigger.
CREATE TRIGGER call_sessions_count_inserts AFTER INSERT ON call_sessions
    REFERENCING NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_inserted_calls();
CREATE TRIGGER call_sessions_count_updates AFTER UPDATE ON call_sessions
    REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_calls();
CREATE TRIGGER call_sessions_count_deletes AFTER DELETE ON call_sessions
    REFERENCING OLD TABLE AS old_calls
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_calls();

-- Conditions met and their rewards -------------------------------------------------------

-- By the hour the condition was met and its number. sent counts rewards whose SMS Twilio
-- accepted (sent, and those since delivered); pending those waiting for cards or delivery.
CREATE TABLE campaign_condition_hours (
    campaign_id      uuid NOT NULL,
    hour             timestamptz NOT NULL,
    condition_number integer NOT NULL,
    met              bigint NOT NULL DEFAULT 0,
    provisioned      bigint NOT NULL DEFAULT 0,
    sent             bigint NOT NULL DEFAULT 0,
    delivered        bigint NOT NULL DEFAULT 0,
    failed           bigint NOT NULL DEFAULT 0,
    pending          bigint NOT NULL DEFAULT 0,
    no_phone         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, hour, condition_number)
);

CREATE TABLE campaign_condition_totals (LIKE campaign_condition_hours INCLUDING DEFAULTS);
ALTER TABLE campaign_condition_totals DROP COLUMN hour,
    ADD PRIMARY KEY (campaign_id, condition_number);

CREATE TABLE campaign_condition_changes (LIKE campaign_condition_hours INCLUDING DEFAULTS);
CREATE INDEX campaign_condition_changes_campaign_idx
    ON campaign_condition_changes (campaign_id, hour);
ALTER TABLE campaign_condition_changes SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_cost_delay = 0);

-- A campaign's conditions met by when they were met: the ragged edges of a range.
CREATE INDEX IF NOT EXISTS calltrack_call_conditions_met_campaign_met_at_idx
    ON call_conditions_met (campaign_id, met_at);

CREATE TYPE calltrack_condition_fact AS (
    campaign_id      uuid,
    met_at           timestamptz,
    condition_number integer,
    reward_status    text,
    delivery_status  text
);

CREATE FUNCTION calltrack_condition_fact(m call_conditions_met) RETURNS calltrack_condition_fact
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ROW(m.campaign_id, m.met_at, m.condition_number, m.reward_status::text,
    m.delivery_status::text)::calltrack_condition_fact;

CREATE FUNCTION calltrack_change_condition_counts(added calltrack_condition_fact[],
    removed calltrack_condition_fact[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_condition_changes (campaign_id, hour, condition_number, met,
        provisioned, sent, delivered, failed, pending, no_phone)
    SELECT * FROM (
        SELECT f.campaign_id, calltrack_hour(f.met_at) AS hour, f.condition_number,
            sum(f.sign) AS met,
            sum(CASE WHEN f.reward_status = 'provisioned' THEN f.sign ELSE 0 END) AS provisioned,
            sum(CASE WHEN f.delivery_status IN ('sent', 'delivered') THEN f.sign ELSE 0 END) AS sent,
            sum(CASE WHEN f.delivery_status = 'delivered' THEN f.sign ELSE 0 END) AS delivered,
            sum(CASE WHEN f.delivery_status = 'failed' THEN f.sign ELSE 0 END) AS failed,
            sum(CASE WHEN f.reward_status = 'pool_exhausted'
                       OR (f.reward_status = 'provisioned'
                           AND f.delivery_status IN ('pending', 'sent'))
                     THEN f.sign ELSE 0 END) AS pending,
            sum(CASE WHEN f.reward_status = 'no_phone' THEN f.sign ELSE 0 END) AS no_phone
        FROM (SELECT a.*, 1 AS sign FROM unnest(added) a
              UNION ALL
              SELECT r.*, -1 AS sign FROM unnest(removed) r) f
        GROUP BY 1, 2, 3
    ) c
    WHERE (c.met, c.provisioned, c.sent, c.delivered, c.failed, c.pending, c.no_phone)
          <> (0, 0, 0, 0, 0, 0, 0);
END
$$;

CREATE FUNCTION calltrack_count_conditions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    added calltrack_condition_fact[];
    removed calltrack_condition_fact[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(calltrack_condition_fact(n)) INTO added FROM new_met n;
        removed := '{}';
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(fn), array_agg(fo) INTO added, removed
        FROM (SELECT calltrack_condition_fact(n) AS fn, calltrack_condition_fact(o) AS fo
              FROM new_met n JOIN old_met o ON o.id = n.id) d
        WHERE fn IS DISTINCT FROM fo;
    ELSE
        SELECT array_agg(calltrack_condition_fact(o)) INTO removed FROM old_met o;
        added := '{}';
    END IF;
    IF added IS NOT NULL AND removed IS NOT NULL THEN
        PERFORM calltrack_change_condition_counts(added, removed);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER call_conditions_met_count_inserts AFTER INSERT ON call_conditions_met
    REFERENCING NEW TABLE AS new_met
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_conditions();
CREATE TRIGGER call_conditions_met_count_updates AFTER UPDATE ON call_conditions_met
    REFERENCING OLD TABLE AS old_met NEW TABLE AS new_met
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_conditions();
CREATE TRIGGER call_conditions_met_count_deletes AFTER DELETE ON call_conditions_met
    REFERENCING OLD TABLE AS old_met
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_count_conditions();

-- Folding and recounting ------------------------------------------------------------------

-- Folds up to max_rows pending changes (of one campaign, or of all) into the hourly and
-- total rows; returns how many it folded. One statement per kind, so readers see the
-- changes either pending or folded, never both. Callers serialise folds on
-- calltrack_rollup_lock(): two folds upserting the same rows in different orders could
-- deadlock.
CREATE FUNCTION calltrack_fold_rollup_changes(only_campaign uuid, max_rows integer)
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
        INSERT INTO campaign_call_hours AS r (campaign_id, hour, calls, matched, unmatched, answered, missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers)
        SELECT campaign_id, hour, sum(calls), sum(matched), sum(unmatched), sum(answered), sum(missed), sum(voicemail), sum(abandoned), sum(live), sum(talk_seconds), sum(talked), sum(recorded), sum(new_callers)
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
            new_callers = r.new_callers + excluded.new_callers
    ), t AS (
        INSERT INTO campaign_call_totals AS r (campaign_id, calls, matched, unmatched, answered, missed, voicemail, abandoned, live, talk_seconds, talked, recorded, new_callers)
        SELECT campaign_id, sum(calls), sum(matched), sum(unmatched), sum(answered), sum(missed), sum(voicemail), sum(abandoned), sum(live), sum(talk_seconds), sum(talked), sum(recorded), sum(new_callers)
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
            new_callers = r.new_callers + excluded.new_callers
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

-- The advisory lock folds and recounts take (transaction level).
CREATE FUNCTION calltrack_rollup_lock() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 7162981734503301121;

-- Counts one campaign again from its facts, by the same rules the triggers count by.
-- Run it in a REPEATABLE READ transaction holding calltrack_rollup_lock(): the facts it
-- counts and the pending changes it drops are then those of one snapshot, and changes
-- committed after it are kept for the next fold.
CREATE FUNCTION calltrack_recount_campaign(campaign uuid) RETURNS void
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
    INSERT INTO campaign_callers (campaign_id, caller_phone, first_call_at)
    SELECT campaign, caller_phone, min(created_at) FROM call_sessions
    WHERE campaign_id = campaign AND caller_phone IS NOT NULL
    GROUP BY caller_phone;
    INSERT INTO campaign_call_changes (campaign_id, hour, new_callers)
    SELECT campaign, calltrack_hour(first_call_at), count(*) FROM campaign_callers
    WHERE campaign_id = campaign
    GROUP BY 2;
    PERFORM calltrack_change_condition_counts(array_agg(calltrack_condition_fact(m)), '{}')
    FROM call_conditions_met m WHERE m.campaign_id = campaign
    GROUP BY calltrack_hour(m.met_at);

    PERFORM calltrack_fold_rollup_changes(campaign, NULL);
    DELETE FROM calltrack_rollup_fill WHERE campaign_id = campaign;
END
$$;

-- Filling in -----------------------------------------------------------------------------

-- Campaigns whose facts predate the rollups: the rollup worker (and `calltrack migrate`)
-- count them from the facts one transaction each; until then their statistics are read
-- from the facts, as before. A campaign created later is counted by the triggers from its
-- first call.
CREATE TABLE calltrack_rollup_fill (campaign_id uuid PRIMARY KEY);
INSERT INTO calltrack_rollup_fill (campaign_id)
SELECT id FROM campaigns c
WHERE EXISTS (SELECT 1 FROM call_sessions s WHERE s.campaign_id = c.id)
   OR EXISTS (SELECT 1 FROM call_conditions_met m WHERE m.campaign_id = c.id);

-- Access ---------------------------------------------------------------------------------

GRANT SELECT ON campaign_call_hours, campaign_call_totals, campaign_call_changes,
    campaign_callers, campaign_condition_hours, campaign_condition_totals,
    campaign_condition_changes, calltrack_rollup_fill TO calltrack_api;

-- A set-based check: campaigns is itself filtered to the caller's clients, so the sub-select
-- is one hashed lookup per query, not a function call per row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaign_call_hours', 'campaign_call_totals',
        'campaign_call_changes', 'campaign_callers', 'campaign_condition_hours',
        'campaign_condition_totals', 'campaign_condition_changes', 'calltrack_rollup_fill'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO calltrack_api '
                       'USING (campaign_id IN (SELECT c.id FROM campaigns c))',
                       t || '_visible', t);
    END LOOP;
END
$$;

-- On the platform (Supabase), default privileges grant every new table in public to anon and
-- authenticated, which would put campaign_callers (phone numbers) behind the platform's
-- public REST API: every grant but the owner's and calltrack_api's is taken back, as the
-- adoption does for calltrack's other tables. Standalone there are none to take back.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, a.grantee
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
             WHERE c.relnamespace = current_schema()::regnamespace
               AND c.relname = ANY (ARRAY['campaign_call_hours', 'campaign_call_totals',
                   'campaign_call_changes', 'campaign_callers', 'campaign_condition_hours',
                   'campaign_condition_totals', 'campaign_condition_changes',
                   'calltrack_rollup_fill'])
               AND a.grantee <> c.relowner
               AND a.grantee <> 'calltrack_api'::regrole LOOP
        EXECUTE format('REVOKE ALL ON TABLE %I FROM %s', r.relname,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
END
$$;
