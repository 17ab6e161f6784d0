-- Webhooks out: a client's endpoints and the events outbox, one message per endpoint and
-- event, written by triggers in the transaction of the change the event reports, so every
-- write path (group commit, spool replay, reconcile, agents, call rules, CRM events, timers,
-- SMS status callbacks, the platform's own SQL) reports alike. Delivery is a worker's job.
-- Runs on standalone and adopted databases alike; the tables are calltrack's own.
--
-- When the service has no enabled endpoint (most deployments) each trigger costs one scan of
-- the empty (or few-row) endpoints table per statement and writes nothing. A trigger that fails
-- for any other reason than a conflict the transaction retries warns and writes no event rather
-- than fail the write it reports: a call's facts and a reward's delivery matter more than their
-- webhook.

-- Tables ------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id             uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    description           text,
    events                text[] NOT NULL CHECK (
        cardinality(events) > 0
        AND events <@ ARRAY['call.started', 'call.completed', 'condition.met',
            'reward.delivered', 'reward.failed']::text[]),
    enabled               boolean NOT NULL DEFAULT true,
    -- Why the service disabled it (a `410`), in words; NULL when a person did.
    disabled_reason       text,
    -- The signing secret, encrypted by the service (the gift-card codes' cipher).
    secret                text NOT NULL,
    -- The secret before the last rotation, which keeps signing until previous_secret_until.
    previous_secret       text,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_client_idx ON webhook_endpoints (client_id);

-- One message per endpoint and event: the Standard Webhooks `webhook-id` (the same on every
-- attempt) and the body as it will be sent. subject_id is the session or condition met the
-- event is about: with the event type and endpoint it is unique, so an event is written once
-- however often (and by however many paths) its change is made.
CREATE TABLE IF NOT EXISTS webhook_messages (
    id              text PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    subject_id      uuid NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- An instance delivering the message holds it until then (at least once: a claim that
    -- lapses is taken again).
    claimed_until   timestamptz,
    delivered_at    timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_messages_once_idx
    ON webhook_messages (subject_id, event_type, endpoint_id);
-- The worker's claim: due pending messages, oldest first.
CREATE INDEX IF NOT EXISTS webhook_messages_due_idx
    ON webhook_messages (next_attempt_at) WHERE status = 'pending';
-- An endpoint's deliveries, newest first.
CREATE INDEX IF NOT EXISTS webhook_messages_endpoint_idx
    ON webhook_messages (endpoint_id, created_at DESC);

-- Every delivery attempt. endpoint_id is the message's, filled in by a trigger, so row
-- security tests the few endpoints of the caller's clients instead of all their messages.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id           bigserial PRIMARY KEY,
    message_id   text NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id  uuid NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- NULL when no answer came (a timeout, a refused connection).
    status_code  integer,
    duration_ms  integer NOT NULL,
    -- What went wrong, in words; NULL on success.
    error        text
);
CREATE INDEX IF NOT EXISTS webhook_attempts_message_idx
    ON webhook_attempts (message_id, attempted_at);

CREATE OR REPLACE FUNCTION calltrack_webhook_attempt_endpoint() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT m.endpoint_id INTO STRICT NEW.endpoint_id
    FROM webhook_messages m WHERE m.id = NEW.message_id;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS webhook_attempts_endpoint ON webhook_attempts;
CREATE TRIGGER webhook_attempts_endpoint BEFORE INSERT ON webhook_attempts
    FOR EACH ROW EXECUTE FUNCTION calltrack_webhook_attempt_endpoint();

-- The platform's set_updated_at may differ from calltrack's; this table keeps its own.
CREATE OR REPLACE FUNCTION calltrack_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS webhook_endpoints_touch ON webhook_endpoints;
CREATE TRIGGER webhook_endpoints_touch BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION calltrack_touch_updated_at();

-- Building messages -------------------------------------------------------------------------

-- A Standard Webhooks message id as svix makes them: `msg_` and a KSUID (27 base62 digits of
-- 4 bytes of seconds since 2014-05-13 and 16 random bytes), so ids sort by creation second.
CREATE OR REPLACE FUNCTION calltrack_webhook_message_id() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    digits constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    random_bytes bytea := uuid_send(gen_random_uuid());
    n numeric := floor(extract(epoch FROM clock_timestamp())) - 1400000000;
    id text := '';
BEGIN
    FOR i IN 0..15 LOOP
        n := n * 256 + get_byte(random_bytes, i);
    END LOOP;
    FOR i IN 1..27 LOOP
        id := substr(digits, (n % 62)::integer + 1, 1) || id;
        n := div(n, 62);
    END LOOP;
    RETURN 'msg_' || id;
END
$$;

ALTER TABLE webhook_messages ALTER COLUMN id SET DEFAULT calltrack_webhook_message_id();

-- A phone number with its middle hidden, as the service masks it (domain::phone::mask_phone):
-- the first five and last four characters kept, `***` for anything of nine or fewer.
CREATE OR REPLACE FUNCTION calltrack_mask_phone(phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN phone IS NULL THEN NULL
    WHEN char_length(phone) <= 9 THEN '***'
    ELSE left(phone, 5) || '***' || right(phone, 4)
END;

-- RFC 3339 in UTC with microseconds, as the body's `timestamp`.
CREATE OR REPLACE FUNCTION calltrack_rfc3339(at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

-- How long a call.completed message waits before its first delivery: callbacks that arrive
-- after the call ended (the recording, a voicemail, a dial action behind the final status)
-- are folded into the message until it is first claimed. `calltrack.webhook_settle_seconds`
-- overrides it with a number of seconds; anything else is ignored, so a mistyped setting
-- cannot fail a call's write.
CREATE OR REPLACE FUNCTION calltrack_webhook_settle_delay() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
RETURN make_interval(secs => CASE
    WHEN current_setting('calltrack.webhook_settle_seconds', true) ~ '^[0-9]{1,6}(\.[0-9]+)?$'
    THEN current_setting('calltrack.webhook_settle_seconds', true)::double precision
    ELSE 30 END);

-- Sessions ----------------------------------------------------------------------------------

-- call.started for every inserted session; call.completed too for one inserted already ended
-- (reconcile, a replay of a finished call). A session's call has ended when its own status is
-- final (status_rank 4), which always settles an outcome: an outcome alone is not the end,
-- since a call is `answered` as soon as the business picks up.
CREATE OR REPLACE FUNCTION calltrack_webhook_inserted_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE enabled AND events && ARRAY['call.started', 'call.completed']) THEN
        RETURN NULL;
    END IF;
    BEGIN
        WITH calls AS (
            SELECT n.id, c.client_id, n.status_rank,
                coalesce(n.call_started_at, n.created_at) AS started_at,
                coalesce(n.call_ended_at, now()) AS ended_at,
                jsonb_build_object('call_session_id', n.id, 'campaign_id', n.campaign_id,
                    'tracked_number', t.phone_number, 'caller', calltrack_mask_phone(n.caller_phone),
                    'match_status', n.match_status::text, 'recipient_id', n.recipient_id) AS data,
                jsonb_build_object('call_outcome', n.call_outcome,
                    'call_status', n.call_status::text,
                    'call_duration_seconds', n.call_duration_seconds,
                    'talk_seconds', n.talk_seconds,
                    'recorded', n.recording_sid IS NOT NULL) AS completion
            FROM new_calls n
            JOIN campaigns c ON c.id = n.campaign_id
            LEFT JOIN tracked_phone_numbers t ON t.id = n.tracked_number_id
            WHERE c.client_id IN (SELECT client_id FROM webhook_endpoints WHERE enabled)
        ), happened AS (
            SELECT id, client_id, 'call.started' AS type, started_at AS at, data, now() AS due
            FROM calls
            UNION ALL
            SELECT id, client_id, 'call.completed', ended_at, data || completion,
                now() + calltrack_webhook_settle_delay()
            FROM calls WHERE status_rank = 4
        )
        INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload, next_attempt_at)
        SELECT e.id, h.type, h.id,
            jsonb_build_object('type', h.type, 'timestamp', calltrack_rfc3339(h.at), 'data', h.data),
            h.due
        FROM happened h
        JOIN webhook_endpoints e ON e.client_id = h.client_id AND e.enabled AND h.type = ANY (e.events)
        ORDER BY h.id, h.type, e.id
        ON CONFLICT (subject_id, event_type, endpoint_id) DO NOTHING;
    EXCEPTION
        WHEN serialization_failure OR deadlock_detected THEN
            RAISE;
        WHEN OTHERS THEN
            RAISE WARNING 'calltrack: % events not written (%): %', TG_NAME, SQLSTATE, SQLERRM;
    END;
    RETURN NULL;
END
$$;

-- call.completed once, when the call ends. A change to what the message reports that arrives
-- later (a recording, a late voicemail turning missed into voicemail, a dial action behind the
-- final status, an agent linking the caller) rewrites the message while no delivery has
-- claimed it; after that the change is not reported again.
CREATE OR REPLACE FUNCTION calltrack_webhook_updated_calls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE enabled AND 'call.completed' = ANY (events)) THEN
        RETURN NULL;
    END IF;
    BEGIN
        WITH calls AS (
            SELECT n.id, c.client_id, o.status_rank < 4 AS ended_now,
                jsonb_build_object('type', 'call.completed',
                    'timestamp', calltrack_rfc3339(coalesce(n.call_ended_at, now())),
                    'data', jsonb_build_object('call_session_id', n.id,
                        'campaign_id', n.campaign_id, 'tracked_number', t.phone_number,
                        'caller', calltrack_mask_phone(n.caller_phone),
                        'match_status', n.match_status::text, 'recipient_id', n.recipient_id,
                        'call_outcome', n.call_outcome, 'call_status', n.call_status::text,
                        'call_duration_seconds', n.call_duration_seconds,
                        'talk_seconds', n.talk_seconds,
                        'recorded', n.recording_sid IS NOT NULL)) AS payload
            FROM new_calls n
            JOIN old_calls o ON o.id = n.id
            JOIN campaigns c ON c.id = n.campaign_id
            LEFT JOIN tracked_phone_numbers t ON t.id = n.tracked_number_id
            WHERE n.status_rank = 4
              AND (o.status_rank < 4
                   OR (n.call_outcome, n.call_status::text, n.call_duration_seconds,
                       n.talk_seconds, n.recording_sid IS NULL, n.recipient_id,
                       n.match_status::text, n.call_ended_at, n.caller_phone)
                      IS DISTINCT FROM
                      (o.call_outcome, o.call_status::text, o.call_duration_seconds,
                       o.talk_seconds, o.recording_sid IS NULL, o.recipient_id,
                       o.match_status::text, o.call_ended_at, o.caller_phone))
              AND c.client_id IN (SELECT client_id FROM webhook_endpoints WHERE enabled)
        ), written AS (
            INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload,
                next_attempt_at)
            SELECT e.id, 'call.completed', k.id, k.payload, now() + calltrack_webhook_settle_delay()
            FROM calls k
            JOIN webhook_endpoints e ON e.client_id = k.client_id AND e.enabled
                AND 'call.completed' = ANY (e.events)
            WHERE k.ended_now
            ORDER BY k.id, e.id
            ON CONFLICT (subject_id, event_type, endpoint_id) DO NOTHING
        )
        UPDATE webhook_messages m SET payload = k.payload
        FROM calls k
        WHERE NOT k.ended_now
          AND m.subject_id = k.id AND m.event_type = 'call.completed'
          AND m.status = 'pending' AND m.attempts = 0
          AND (m.claimed_until IS NULL OR m.claimed_until < now());
    EXCEPTION
        WHEN serialization_failure OR deadlock_detected THEN
            RAISE;
        WHEN OTHERS THEN
            RAISE WARNING 'calltrack: % events not written (%): %', TG_NAME, SQLSTATE, SQLERRM;
    END;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS call_sessions_webhook_inserts ON call_sessions;
CREATE TRIGGER call_sessions_webhook_inserts AFTER INSERT ON call_sessions
    REFERENCING NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_webhook_inserted_calls();
DROP TRIGGER IF EXISTS call_sessions_webhook_updates ON call_sessions;
CREATE TRIGGER call_sessions_webhook_updates AFTER UPDATE ON call_sessions
    REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_webhook_updated_calls();

-- Conditions met and their rewards ----------------------------------------------------------

-- condition.met, read at commit: calltrack_meet_condition inserts the row and then claims its
-- card in later statements, so only at the end of the transaction does the row hold the
-- reward's status. Conditions are rare beside calls: a row trigger is cheap enough.
CREATE OR REPLACE FUNCTION calltrack_webhook_condition_met() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE enabled AND 'condition.met' = ANY (events)) THEN
        RETURN NULL;
    END IF;
    BEGIN
        INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload)
        SELECT e.id, 'condition.met', m.id,
            jsonb_build_object('type', 'condition.met', 'timestamp', calltrack_rfc3339(m.met_at),
                'data', jsonb_build_object('condition_met_id', m.id,
                    'condition_number', m.condition_number, 'condition_name', cc.condition_name,
                    'met_by', m.met_by, 'recipient_id', m.recipient_id,
                    'call_session_id', m.call_session_id, 'campaign_id', m.campaign_id,
                    'reward', jsonb_build_object('status', m.reward_status::text)))
        FROM call_conditions_met m
        JOIN campaigns c ON c.id = m.campaign_id
        JOIN webhook_endpoints e ON e.client_id = c.client_id AND e.enabled
            AND 'condition.met' = ANY (e.events)
        LEFT JOIN LATERAL (
            SELECT x.condition_name FROM campaign_conditions x
            WHERE x.campaign_id = m.campaign_id AND x.condition_number = m.condition_number
            ORDER BY x.is_active DESC NULLS LAST, x.created_at DESC
            LIMIT 1
        ) cc ON true
        WHERE m.id = NEW.id
        ORDER BY e.id
        ON CONFLICT (subject_id, event_type, endpoint_id) DO NOTHING;
    EXCEPTION
        WHEN serialization_failure OR deadlock_detected THEN
            RAISE;
        WHEN OTHERS THEN
            RAISE WARNING 'calltrack: % events not written (%): %', TG_NAME, SQLSTATE, SQLERRM;
    END;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS call_conditions_met_webhook_inserts ON call_conditions_met;
CREATE CONSTRAINT TRIGGER call_conditions_met_webhook_inserts
    AFTER INSERT ON call_conditions_met
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION calltrack_webhook_condition_met();

-- reward.delivered and reward.failed when the SMS's delivery reaches either, once each.
CREATE OR REPLACE FUNCTION calltrack_webhook_updated_rewards() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE enabled AND events && ARRAY['reward.delivered', 'reward.failed']) THEN
        RETURN NULL;
    END IF;
    BEGIN
        INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload)
        SELECT e.id, r.type, r.id,
            jsonb_build_object('type', r.type, 'timestamp', calltrack_rfc3339(now()),
                'data', jsonb_build_object('condition_met_id', r.id,
                    'recipient_id', r.recipient_id, 'campaign_id', r.campaign_id,
                    'condition_number', r.condition_number)
                    || CASE WHEN r.type = 'reward.failed'
                            THEN jsonb_build_object('delivery_error_code', r.delivery_error_code)
                            ELSE '{}' END)
        FROM (SELECT n.id, n.recipient_id, n.campaign_id, n.condition_number,
                     n.delivery_error_code, 'reward.' || n.delivery_status::text AS type
              FROM new_met n JOIN old_met o ON o.id = n.id
              WHERE n.delivery_status::text IN ('delivered', 'failed')
                AND o.delivery_status::text IS DISTINCT FROM n.delivery_status::text) r
        JOIN campaigns c ON c.id = r.campaign_id
        JOIN webhook_endpoints e ON e.client_id = c.client_id AND e.enabled AND r.type = ANY (e.events)
        ORDER BY r.id, e.id
        ON CONFLICT (subject_id, event_type, endpoint_id) DO NOTHING;
    EXCEPTION
        WHEN serialization_failure OR deadlock_detected THEN
            RAISE;
        WHEN OTHERS THEN
            RAISE WARNING 'calltrack: % events not written (%): %', TG_NAME, SQLSTATE, SQLERRM;
    END;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS call_conditions_met_webhook_updates ON call_conditions_met;
CREATE TRIGGER call_conditions_met_webhook_updates AFTER UPDATE ON call_conditions_met
    REFERENCING OLD TABLE AS old_met NEW TABLE AS new_met
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_webhook_updated_rewards();

-- Access ------------------------------------------------------------------------------------

-- The management API runs as the restricted role under the caller's scope: it keeps a
-- client's endpoints, reads their deliveries and queues a retry.
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO calltrack_api;
GRANT SELECT, UPDATE ON webhook_messages TO calltrack_api;
GRANT SELECT ON webhook_attempts TO calltrack_api;

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT * FROM (VALUES
        ('webhook_endpoints', 'client_id IN (SELECT unnest(calltrack_client_ids()))'),
        ('webhook_messages', 'endpoint_id IN (SELECT e.id FROM webhook_endpoints e'
            || ' WHERE e.client_id IN (SELECT unnest(calltrack_client_ids())))'),
        ('webhook_attempts', 'endpoint_id IN (SELECT e.id FROM webhook_endpoints e'
            || ' WHERE e.client_id IN (SELECT unnest(calltrack_client_ids())))')
    ) AS v (tbl, visible) LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', p.tbl);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', p.tbl || '_visible', p.tbl);
        -- The set-based form of V12: the scope is tested once per statement.
        EXECUTE format('CREATE POLICY %I ON %I TO calltrack_api USING (%s)',
            p.tbl || '_visible', p.tbl, '(SELECT calltrack_all_clients()) OR ' || p.visible);
    END LOOP;
END
$$;

-- On the platform (Supabase), default privileges grant every new table in public to anon and
-- authenticated: every grant but the owner's and calltrack_api's is taken back, as V11 does
-- (the secrets are encrypted, but the endpoints and bodies are the clients' business).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, c.relkind, a.grantee
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
             WHERE c.relnamespace = current_schema()::regnamespace
               AND c.relname = ANY (ARRAY['webhook_endpoints', 'webhook_messages',
                   'webhook_attempts', 'webhook_attempts_id_seq'])
               AND a.grantee <> c.relowner
               AND a.grantee <> 'calltrack_api'::regrole LOOP
        EXECUTE format('REVOKE ALL ON %s %I FROM %s',
            CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
END
$$;
