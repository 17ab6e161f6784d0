-- Conditions that meet themselves: call rules, CRM events and time delays, and one way for
-- every path to meet a condition (calltrack_meet_condition), so an agent's click, a call
-- rule, a CRM event and a timer racing for one recipient and condition make one row, claim
-- one card and queue one SMS. Runs on standalone and adopted databases alike.

-- call_conditions_met ---------------------------------------------------------------------

-- The rollups' fact function (V11) is a SQL-standard body over the table's row type, which
-- forbids altering the table while it exists: it is set aside and made again unchanged (its
-- callers are PL/pgSQL, which looks it up when it runs).
DROP FUNCTION calltrack_condition_fact(call_conditions_met);

-- Who met the condition. A constant default is recorded without rewriting the table, and it
-- is what every existing row is: before this migration only agents met conditions (on an
-- adopted database, the platform's own agents too).
ALTER TABLE call_conditions_met
    ADD COLUMN IF NOT EXISTS met_by text NOT NULL DEFAULT 'agent',
    -- What met it, for people: the talk time of a call rule, the CRM event, the timer.
    ADD COLUMN IF NOT EXISTS met_detail jsonb;

CREATE FUNCTION calltrack_condition_fact(m call_conditions_met) RETURNS calltrack_condition_fact
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ROW(m.campaign_id, m.met_at, m.condition_number, m.reward_status::text,
    m.delivery_status::text)::calltrack_condition_fact;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'call_conditions_met'::regclass
                     AND conname = 'calltrack_call_conditions_met_met_by_check') THEN
        -- NOT VALID: existing rows hold the default; new rows are checked.
        ALTER TABLE call_conditions_met ADD CONSTRAINT calltrack_call_conditions_met_met_by_check
            CHECK (met_by IN ('agent', 'call_rule', 'crm_event', 'time_delay')) NOT VALID;
    END IF;
END
$$;

-- campaign_conditions ---------------------------------------------------------------------

-- A `call` condition with a rule is met by the call itself once the business talked with the
-- caller this long. NULL: agents only.
ALTER TABLE campaign_conditions
    ADD COLUMN IF NOT EXISTS auto_min_talk_seconds integer;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'campaign_conditions'::regclass
                     AND conname = 'calltrack_campaign_conditions_auto_min_talk_check') THEN
        ALTER TABLE campaign_conditions
            ADD CONSTRAINT calltrack_campaign_conditions_auto_min_talk_check
            CHECK (auto_min_talk_seconds >= 0) NOT VALID;
    END IF;
END
$$;

-- crm_events ------------------------------------------------------------------------------

-- Every event a CRM reported, keyed by the sender's own id within the client, with the
-- answer it got: a repeat answers the first answer, a conflicting repeat is refused.
CREATE TABLE IF NOT EXISTS crm_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       uuid NOT NULL,
    sender_event_id text NOT NULL,
    event           text NOT NULL,
    recipient_id    uuid NOT NULL,
    campaign_id     uuid NOT NULL,
    call_session_id uuid,
    occurred_at     timestamptz,
    notes           text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- The conditions met and their rewards as first answered.
    answer          jsonb NOT NULL DEFAULT '[]',
    UNIQUE (client_id, sender_event_id)
);

-- calltrack_conditions_due ----------------------------------------------------------------

-- Conditions the service will meet itself at due_at: a time_delay condition from the
-- recipient's first answered call, or a call rule whose meeting failed inside the call's
-- write (met later rather than failing the call's facts). One per recipient and condition;
-- the worker deletes a row in the transaction that meets it, or skips it.
CREATE TABLE IF NOT EXISTS calltrack_conditions_due (
    recipient_id     uuid NOT NULL,
    condition_number integer NOT NULL,
    campaign_id      uuid NOT NULL,
    call_session_id  uuid,
    met_by           text NOT NULL CHECK (met_by IN ('call_rule', 'time_delay')),
    due_at           timestamptz NOT NULL,
    met_detail       jsonb,
    PRIMARY KEY (recipient_id, condition_number)
);
CREATE INDEX IF NOT EXISTS calltrack_conditions_due_due_at_idx
    ON calltrack_conditions_due (due_at);

-- gift_cards ------------------------------------------------------------------------------

-- The next card to claim in one index step. Cards imported together share created_at, so
-- V3's (pool_id, created_at) index left every available card of the pool to be read and
-- sorted by id for each claim: a claim cost grew with the pool (1 ms at 20,000 cards).
CREATE INDEX IF NOT EXISTS calltrack_gift_cards_next_available_idx
    ON gift_cards (pool_id, created_at, id) WHERE status = 'available';

-- Meeting a condition ---------------------------------------------------------------------

-- Claims one available card of p_pool for the condition, keeps the pool's counters, records
-- the card and queues the SMS; returns the reward status. SKIP LOCKED lets concurrent claims
-- take different cards instead of waiting for each other. The recipient's phone on file wins
-- over the number that called, so a postcard's code cannot divert the reward; a reward with no
-- phone to text claims no card.
CREATE OR REPLACE FUNCTION calltrack_claim_reward_card(p_condition_met uuid, p_pool uuid)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_phone text;
    v_card uuid;
BEGIN
    SELECT coalesce(r.phone_e164, s.caller_phone) INTO v_phone
    FROM call_conditions_met m
    JOIN recipients r ON r.id = m.recipient_id
    LEFT JOIN call_sessions s ON s.id = m.call_session_id
    WHERE m.id = p_condition_met;
    IF v_phone IS NULL THEN
        UPDATE call_conditions_met SET reward_status = 'no_phone', delivery_status = NULL
        WHERE id = p_condition_met;
        RAISE LOG 'calltrack: no phone to send the reward of % to; no card claimed', p_condition_met;
        RETURN 'no_phone';
    END IF;
    WITH card AS (
        SELECT g.id FROM gift_cards g
        WHERE g.pool_id = p_pool AND g.status = 'available'
        ORDER BY g.created_at, g.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE gift_cards g
    SET status = 'claimed', recipient_id = m.recipient_id, campaign_id = m.campaign_id,
        claimed_at = now()
    FROM card, call_conditions_met m
    WHERE g.id = card.id AND m.id = p_condition_met
    RETURNING g.id INTO v_card;
    IF v_card IS NULL THEN
        RETURN 'pool_exhausted';
    END IF;
    UPDATE gift_card_pools SET available_cards = available_cards - 1 WHERE id = p_pool;
    UPDATE call_conditions_met
    SET gift_card_id = v_card, reward_status = 'provisioned', delivery_status = 'pending'
    WHERE id = p_condition_met;
    INSERT INTO sms_outbox (condition_met_id, to_phone) VALUES (p_condition_met, v_phone);
    RETURN 'provisioned';
END
$$;

-- Meets a condition for a recipient, whoever meets it: the row (at most one per recipient and
-- condition number: a racing second insert waits for the first and then does nothing), the
-- reward config's card, the SMS and the audit row, in the caller's transaction. Returns the
-- new row's id, or NULL when the condition was met already. Checks nothing about who may
-- meet it: the callers decide that.
CREATE OR REPLACE FUNCTION calltrack_meet_condition(p_recipient uuid, p_campaign uuid,
    p_condition integer, p_session uuid, p_met_by text, p_agent uuid, p_actor_client uuid,
    p_notes text, p_detail jsonb)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_id uuid;
    v_config uuid;
    v_pool uuid;
    v_status text := 'no_reward_configured';
BEGIN
    -- met_at is set here: the platform's schema document gives it no default.
    INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id,
        condition_number, met_at, met_by_agent_id, notes, delivery_status, met_by, met_detail)
    VALUES (p_session, p_campaign, p_recipient, p_condition, now(),
        CASE WHEN p_met_by = 'agent' THEN p_agent END, p_notes, NULL, p_met_by, p_detail)
    ON CONFLICT (recipient_id, condition_number) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT rc.id, rc.gift_card_pool_id INTO v_config, v_pool
    FROM campaign_reward_configs rc
    WHERE rc.campaign_id = p_campaign AND rc.condition_number = p_condition
    ORDER BY rc.id
    LIMIT 1;
    IF v_config IS NOT NULL AND v_pool IS NOT NULL THEN
        UPDATE call_conditions_met SET reward_config_id = v_config,
            reward_status = 'pool_exhausted'
        WHERE id = v_id;
        v_status := calltrack_claim_reward_card(v_id, v_pool);
    END IF;
    INSERT INTO audit_log (actor_user_id, actor_client_id, action, entity_type, entity_id,
        details)
    VALUES (p_agent, p_actor_client, 'condition_met', 'call_conditions_met', v_id,
        jsonb_build_object('call_session_id', p_session, 'condition_number', p_condition,
            'reward_status', v_status, 'met_by', p_met_by));
    RETURN v_id;
END
$$;

-- Call rules and timers -------------------------------------------------------------------

-- A matched call that was answered: meets the campaign's call rules its talk time reaches,
-- and starts (or moves earlier) the timers of its time_delay conditions. A failure to meet a
-- rule must not lose the call's facts written in the same transaction, so it is caught and
-- the rule handed to the due-conditions worker instead.
CREATE OR REPLACE FUNCTION calltrack_answered_call_conditions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    c record;
    v_detail jsonb;
BEGIN
    FOR c IN
        SELECT cc.condition_number, cc.trigger_type::text AS trigger_type,
            cc.auto_min_talk_seconds, cc.time_delay_hours
        FROM campaign_conditions cc
        WHERE cc.campaign_id = NEW.campaign_id AND cc.is_active IS TRUE
          AND ((cc.trigger_type::text = 'call'
                AND cc.auto_min_talk_seconds <= coalesce(NEW.talk_seconds, -1))
               OR (cc.trigger_type::text = 'time_delay' AND cc.time_delay_hours > 0))
          AND NOT EXISTS (SELECT 1 FROM call_conditions_met m
                          WHERE m.recipient_id = NEW.recipient_id
                            AND m.condition_number = cc.condition_number)
        ORDER BY cc.condition_number
    LOOP
        IF c.trigger_type = 'call' THEN
            v_detail := jsonb_build_object('talk_seconds', NEW.talk_seconds,
                'min_talk_seconds', c.auto_min_talk_seconds);
            BEGIN
                PERFORM calltrack_meet_condition(NEW.recipient_id, NEW.campaign_id,
                    c.condition_number, NEW.id, 'call_rule', NULL, NULL, NULL, v_detail);
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'calltrack: meeting call rule % of session % failed (%); the worker retries it',
                    c.condition_number, NEW.id, SQLSTATE;
                INSERT INTO calltrack_conditions_due (recipient_id, condition_number,
                    campaign_id, call_session_id, met_by, due_at, met_detail)
                VALUES (NEW.recipient_id, c.condition_number, NEW.campaign_id, NEW.id,
                    'call_rule', now(), v_detail)
                ON CONFLICT (recipient_id, condition_number) DO NOTHING;
            END;
        ELSE
            INSERT INTO calltrack_conditions_due AS d (recipient_id, condition_number,
                campaign_id, call_session_id, met_by, due_at, met_detail)
            VALUES (NEW.recipient_id, c.condition_number, NEW.campaign_id, NEW.id,
                'time_delay', NEW.call_answered_at + make_interval(hours => c.time_delay_hours),
                jsonb_build_object('delay_hours', c.time_delay_hours,
                    'first_answered_at', NEW.call_answered_at))
            ON CONFLICT (recipient_id, condition_number) DO UPDATE
                SET due_at = EXCLUDED.due_at, call_session_id = EXCLUDED.call_session_id,
                    met_detail = EXCLUDED.met_detail
                WHERE EXCLUDED.due_at < d.due_at;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Deferred to the commit: the write path locks its sessions in CallSid order first, and a
-- reward taken in the middle of a batch would hold a pool's row while the batch waited for
-- another session, which another batch could hold while waiting for that pool. At commit the
-- batch holds all its sessions already. The WHEN clauses keep the voice webhook's insert and
-- every callback that changes nothing relevant from queueing anything.
DROP TRIGGER IF EXISTS call_sessions_answered_conditions_insert ON call_sessions;
CREATE CONSTRAINT TRIGGER call_sessions_answered_conditions_insert
    AFTER INSERT ON call_sessions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.call_outcome = 'answered' AND NEW.recipient_id IS NOT NULL)
    EXECUTE FUNCTION calltrack_answered_call_conditions();

DROP TRIGGER IF EXISTS call_sessions_answered_conditions_update ON call_sessions;
CREATE CONSTRAINT TRIGGER call_sessions_answered_conditions_update
    AFTER UPDATE ON call_sessions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.call_outcome = 'answered' AND NEW.recipient_id IS NOT NULL
          AND (OLD.call_outcome IS DISTINCT FROM NEW.call_outcome
               OR OLD.talk_seconds IS DISTINCT FROM NEW.talk_seconds
               OR OLD.recipient_id IS DISTINCT FROM NEW.recipient_id
               OR OLD.call_answered_at IS DISTINCT FROM NEW.call_answered_at))
    EXECUTE FUNCTION calltrack_answered_call_conditions();

-- Meets up to p_max due conditions, oldest first, each once: rows are claimed with SKIP LOCKED
-- (other instances take others) and deleted in the transaction that meets them. A condition
-- that is no longer active (or no longer of that kind) when it falls due is skipped. One that
-- fails to be met is put back five minutes later, on its own: otherwise a row that always
-- fails would roll back its whole batch, be taken first again, and hold back every condition
-- due after it. Returns how many rows it took (met, skipped or put back), so a caller loops
-- until it is under p_max.
CREATE OR REPLACE FUNCTION calltrack_meet_due_conditions(p_max integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    d record;
    v_taken integer := 0;
BEGIN
    FOR d IN
        DELETE FROM calltrack_conditions_due x
        WHERE (x.recipient_id, x.condition_number) IN (
            SELECT y.recipient_id, y.condition_number FROM calltrack_conditions_due y
            WHERE y.due_at <= now()
            ORDER BY y.due_at
            LIMIT p_max
            FOR UPDATE SKIP LOCKED)
        RETURNING x.*
    LOOP
        v_taken := v_taken + 1;
        BEGIN
            IF EXISTS (SELECT 1 FROM campaign_conditions cc
                       WHERE cc.campaign_id = d.campaign_id
                         AND cc.condition_number = d.condition_number
                         AND cc.is_active IS TRUE
                         AND cc.trigger_type::text =
                             CASE d.met_by WHEN 'call_rule' THEN 'call' ELSE 'time_delay' END) THEN
                PERFORM calltrack_meet_condition(d.recipient_id, d.campaign_id,
                    d.condition_number, d.call_session_id, d.met_by, NULL, NULL, NULL,
                    coalesce(d.met_detail, '{}') || jsonb_build_object('due_at', d.due_at));
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'calltrack: meeting due condition % of recipient % failed (%); retried in 5 minutes',
                d.condition_number, d.recipient_id, SQLSTATE;
            INSERT INTO calltrack_conditions_due (recipient_id, condition_number, campaign_id,
                call_session_id, met_by, due_at, met_detail)
            VALUES (d.recipient_id, d.condition_number, d.campaign_id, d.call_session_id,
                d.met_by, now() + interval '5 minutes', d.met_detail)
            ON CONFLICT (recipient_id, condition_number) DO NOTHING;
        END;
    END LOOP;
    RETURN v_taken;
END
$$;

-- Access ----------------------------------------------------------------------------------

-- The API reads due times for session detail under the caller's scope.
GRANT SELECT ON calltrack_conditions_due TO calltrack_api;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['crm_events', 'calltrack_conditions_due'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_visible', t);
        -- The set-based form of V12: the scope is tested once per statement.
        EXECUTE format('CREATE POLICY %I ON %I TO calltrack_api USING (%s)',
                       t || '_visible', t,
                       '(SELECT calltrack_all_clients()) OR '
                       || 'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))');
    END LOOP;
END
$$;

-- On the platform (Supabase), default privileges grant every new table in public to anon and
-- authenticated: every grant but the owner's and calltrack_api's is taken back, as V11 does.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, a.grantee
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
             WHERE c.relnamespace = current_schema()::regnamespace
               AND c.relname = ANY (ARRAY['crm_events', 'calltrack_conditions_due'])
               AND a.grantee <> c.relowner
               AND a.grantee <> 'calltrack_api'::regrole LOOP
        EXECUTE format('REVOKE ALL ON TABLE %I FROM %s', r.relname,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
END
$$;
