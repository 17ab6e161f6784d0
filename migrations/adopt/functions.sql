-- Adoption: calltrack's functions, triggers on its own columns, its restricted role with its
-- grants and policies, for a database whose platform tables already exist. Runs in the
-- adoption's transaction after the columns are added; every statement is idempotent.
--
-- Unlike the standalone migrations, nothing here assumes a platform column is text: an
-- enumerated column (a Postgres enum on the platform) is cast with ::text wherever it is
-- passed to a function, and every policy is scoped TO calltrack_api so the platform's own
-- roles are governed by the platform's policies alone.

CREATE OR REPLACE FUNCTION calltrack_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The same E.164 normalisation as V2 (see there for the rules).
CREATE OR REPLACE FUNCTION calltrack_phone_e164(raw text) RETURNS text
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

-- Standalone, recipients.phone_e164 is a stored generated column. Adding one to a platform
-- table would rewrite it under an exclusive lock, so here it is a plain column kept by this
-- trigger and filled in for existing rows in batches.
CREATE OR REPLACE FUNCTION calltrack_fill_phone_e164() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.phone_e164 := calltrack_phone_e164(NEW.phone);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION calltrack_status_rank(status text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'initiated' THEN 1 WHEN 'ringing' THEN 2 WHEN 'in-progress' THEN 3
        WHEN 'completed' THEN 4 WHEN 'busy' THEN 4 WHEN 'no-answer' THEN 4
        WHEN 'failed' THEN 4 WHEN 'canceled' THEN 5 ELSE 0 END::smallint
$$;

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
        NEW.leg_status, NEW.call_status::text, NEW.status_rank);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER calltrack_call_sessions_settle_call_outcome
    BEFORE INSERT OR UPDATE OF voicemail_sid, call_answered_at, leg_status, call_status,
        status_rank
    ON call_sessions
    FOR EACH ROW EXECUTE FUNCTION calltrack_settle_call_outcome();

CREATE OR REPLACE FUNCTION calltrack_bump_routing_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE calltrack_routing_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER calltrack_tracked_phone_numbers_routing_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tracked_phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION calltrack_bump_routing_version();

CREATE OR REPLACE TRIGGER calltrack_sms_outbox_set_updated_at
    BEFORE UPDATE ON sms_outbox
    FOR EACH ROW EXECUTE FUNCTION calltrack_set_updated_at();

-- The restricted role --------------------------------------------------------------------

DO $$
BEGIN
    CREATE ROLE calltrack_api NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT calltrack_api TO CURRENT_USER;

CREATE OR REPLACE FUNCTION calltrack_client_visible(client uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(current_setting('calltrack.all_clients', true), '') = 'on'
    OR client = ANY (string_to_array(
        nullif(current_setting('calltrack.client_ids', true), ''), ',')::uuid[]);

CREATE OR REPLACE FUNCTION calltrack_campaign_visible(campaign uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM campaigns c WHERE c.id = campaign AND calltrack_client_visible(c.client_id));

GRANT USAGE ON SCHEMA public TO calltrack_api;
GRANT SELECT ON organizations, clients, user_roles, org_members, client_users, campaigns,
    campaign_conditions, campaign_reward_configs, recipients, gift_card_brands, gift_card_pools,
    gift_cards, tracked_phone_numbers, call_sessions, call_conditions_met, sms_outbox
    TO calltrack_api;
GRANT INSERT, UPDATE ON call_conditions_met, audit_log, tracked_phone_numbers TO calltrack_api;
GRANT UPDATE ON call_sessions TO calltrack_api;
GRANT INSERT ON events TO calltrack_api;

-- Policies for calltrack_api only, named calltrack_* so they cannot collide with the
-- platform's. Policies combine per role: the platform's roles never see these, and
-- calltrack_api never sees the platform's (which are written TO the platform's roles).
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT * FROM (VALUES
        ('clients', 'calltrack_client_visible(id)'),
        ('campaigns', 'calltrack_client_visible(client_id)'),
        ('recipients', 'calltrack_campaign_visible(campaign_id)'),
        ('tracked_phone_numbers', 'calltrack_campaign_visible(campaign_id)'),
        ('call_sessions', 'calltrack_campaign_visible(campaign_id)'),
        ('call_conditions_met', 'calltrack_campaign_visible(campaign_id)'),
        ('gift_card_pools', 'calltrack_client_visible(client_id)'),
        ('campaign_reward_configs', 'calltrack_campaign_visible(campaign_id)'),
        ('campaign_conditions', 'calltrack_campaign_visible(campaign_id)'),
        ('gift_cards', 'EXISTS (SELECT 1 FROM gift_card_pools p WHERE p.id = pool_id'
            || ' AND calltrack_client_visible(p.client_id))'
            || ' OR (campaign_id IS NOT NULL AND calltrack_campaign_visible(campaign_id))'),
        ('sms_outbox', 'EXISTS (SELECT 1 FROM call_conditions_met m'
            || ' WHERE m.id = condition_met_id AND calltrack_campaign_visible(m.campaign_id))')
    ) AS v (tbl, rule) LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_policies
            WHERE schemaname = current_schema() AND tablename = p.tbl
              AND policyname = 'calltrack_' || p.tbl || '_visible');
        EXECUTE format('CREATE POLICY %I ON %I TO calltrack_api USING (%s)',
            'calltrack_' || p.tbl || '_visible', p.tbl, p.rule);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
                   AND tablename = 'audit_log' AND policyname = 'calltrack_audit_log_insert') THEN
        CREATE POLICY calltrack_audit_log_insert ON audit_log FOR INSERT TO calltrack_api
            WITH CHECK (true);
    END IF;
END
$$;

-- calltrack's own tables are its alone. A Supabase project grants every new table in public
-- to anon and authenticated by default privileges, which would put the outbox (phone numbers)
-- behind the platform's public REST API; so RLS is on for all of them and every grant but
-- the owner's and calltrack_api's is taken back.
DO $$
DECLARE
    own text[] := ARRAY['calltrack_adoption', 'sms_outbox', 'audit_log',
        'number_releases_pending', 'sms_status_parked', 'spool_applied',
        'call_callbacks_parked', 'calltrack_routing_version', 'reconcile_runs'];
    t text;
    r record;
BEGIN
    FOREACH t IN ARRAY own LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    END LOOP;
    FOR r IN SELECT c.relname, c.relkind, a.grantee
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
             WHERE c.relnamespace = current_schema()::regnamespace
               AND c.relname = ANY (own || ARRAY['call_callbacks_parked_id_seq',
                                                 'reconcile_runs_id_seq'])
               AND a.grantee <> c.relowner
               AND a.grantee <> 'calltrack_api'::regrole LOOP
        EXECUTE format('REVOKE ALL ON %s %I FROM %s',
            CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
END
$$;
