-- =========================================================================================
-- documented_minimum.sql — test fixture: the platform exactly as its schema document says
-- =========================================================================================
--
-- What this models
--   A database built by a new user from the platform's schema document
--   (../shared/SCHEMA.md) and nothing else: its seventeen tables with exactly its columns
--   and types, no column more. Around them only what the document itself implies or what
--   every Supabase project has:
--     * Supabase's roles (anon, authenticated, service_role), default privileges and a
--       minimal `auth` schema (auth.users, auth.uid()); user-id columns the document marks
--       "FK → auth.users.id" reference it;
--     * a Postgres enum type for each column the document types ENUM (clients.industry,
--       user_roles.role, campaigns.status, size, postage, lp_mode); every other enumeration
--       is plain TEXT, without CHECK constraints (the document allows either);
--     * UUID primary keys defaulting to gen_random_uuid() and TIMESTAMPTZ everywhere (the
--       document's practices), creation timestamps defaulting to now(); no other default
--       and no NOT NULL the document does not state (redemption_code is "required");
--     * foreign keys where the document draws them, plain UUIDs to tables it leaves out
--       (contacts, contact_lists, templates, landing_pages, audiences);
--     * the indexes the document lists, unique only where it says "Unique";
--     * `events` partitioned by month on created_at, with no default partition;
--     * RLS enabled on every table, with the policies the document describes.
--
--   What it lacks on purpose, compared with supabase_platform.sql: any column the document
--   does not list (no `deleted_at` on campaigns or recipients), the platform's own tables
--   and extra columns, enum types for TEXT enumerations, and defaults beyond the above.
--
-- How to load it
--   As a NON-superuser role that owns the (empty) database and has CREATEROLE:
--     psql -v ON_ERROR_STOP=1 -d <db> -f lab/tests/platform/documented_minimum.sql
--   No rows are seeded: tests seed their own.
-- =========================================================================================


-- Supabase roles: cluster-wide, so created only if missing (another database of the cluster
-- may be creating them at this very moment).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;


BEGIN;

SET LOCAL search_path = public;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;


-- auth ------------------------------------------------------------------------------------

CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE TABLE auth.users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      text,
    created_at timestamptz DEFAULT now()
);

CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;


-- The document's ENUM columns -------------------------------------------------------------

CREATE TYPE public.industry_type AS ENUM (
    'roofing', 'rei', 'auto_service', 'home_services', 'insurance', 'real_estate', 'solar',
    'hvac', 'legal', 'dental', 'medical', 'other');
CREATE TYPE public.app_role AS ENUM (
    'admin', 'tech_support', 'agency_owner', 'company_owner', 'developer', 'call_center');
CREATE TYPE public.campaign_status AS ENUM (
    'draft', 'ready', 'in_production', 'mailed', 'active', 'completed');
CREATE TYPE public.campaign_size AS ENUM ('4x6', '6x9', '6x11', 'letter');
CREATE TYPE public.postage_type AS ENUM ('standard', 'first_class');
CREATE TYPE public.lp_mode AS ENUM ('bridge', 'redirect');


-- Tables, in the document's order ---------------------------------------------------------

CREATE TABLE public.organizations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text,
    type          text,
    created_at    timestamptz DEFAULT now(),
    settings_json jsonb
);

CREATE TABLE public.clients (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid REFERENCES public.organizations (id),
    name              text,
    industry          public.industry_type,
    logo_url          text,
    brand_colors_json jsonb,
    website_url       text,
    api_key_hash      text,
    credits           integer,
    created_at        timestamptz DEFAULT now()
);
CREATE INDEX ON public.clients (org_id);
CREATE INDEX ON public.clients (api_key_hash);

CREATE TABLE public.profiles (
    id         uuid PRIMARY KEY REFERENCES auth.users (id),
    email      text,
    full_name  text,
    avatar_url text,
    phone      text,
    timezone   text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE public.user_roles (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid REFERENCES auth.users (id),
    role       public.app_role,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX ON public.user_roles (user_id);
CREATE INDEX ON public.user_roles (role);

CREATE TABLE public.org_members (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid REFERENCES public.organizations (id),
    user_id    uuid REFERENCES auth.users (id),
    created_at timestamptz DEFAULT now()
);
CREATE INDEX ON public.org_members (org_id, user_id);

CREATE TABLE public.client_users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id  uuid REFERENCES public.clients (id),
    user_id    uuid REFERENCES auth.users (id),
    created_at timestamptz DEFAULT now()
);
CREATE INDEX ON public.client_users (client_id, user_id);

CREATE TABLE public.campaigns (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id          uuid REFERENCES public.clients (id),
    name               text,
    status             public.campaign_status,
    size               public.campaign_size,
    postage            public.postage_type,
    vendor             text,
    mail_date          date,
    audience_id        uuid,
    contact_list_id    uuid,
    template_id        uuid,
    landing_page_id    uuid,
    lp_mode            public.lp_mode,
    base_lp_url        text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    created_by_user_id uuid REFERENCES auth.users (id),
    created_at         timestamptz DEFAULT now(),
    updated_at         timestamptz DEFAULT now()
);
CREATE INDEX ON public.campaigns (client_id);
CREATE INDEX ON public.campaigns (status);
CREATE INDEX ON public.campaigns (mail_date);

CREATE TABLE public.campaign_conditions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id      uuid REFERENCES public.campaigns (id),
    condition_number integer,
    condition_name   text,
    trigger_type     text,
    crm_event_name   text,
    time_delay_hours integer,
    is_active        boolean,
    created_at       timestamptz DEFAULT now()
);
CREATE INDEX ON public.campaign_conditions (campaign_id, condition_number);

CREATE TABLE public.gift_card_brands (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_name     text,
    brand_logo_url text,
    default_value  decimal,
    is_active      boolean,
    created_at     timestamptz DEFAULT now()
);

CREATE TABLE public.gift_card_pools (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       uuid REFERENCES public.clients (id),
    brand_id        uuid REFERENCES public.gift_card_brands (id),
    pool_name       text,
    value_amount    decimal,
    total_cards     integer,
    available_cards integer,
    reserved_cards  integer,
    delivered_cards integer,
    created_at      timestamptz DEFAULT now()
);
CREATE INDEX ON public.gift_card_pools (client_id);
CREATE INDEX ON public.gift_card_pools (brand_id);

CREATE TABLE public.campaign_reward_configs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id        uuid REFERENCES public.campaigns (id),
    condition_number   integer,
    gift_card_pool_id  uuid REFERENCES public.gift_card_pools (id),
    reward_description text,
    sms_template       text,
    created_at         timestamptz DEFAULT now()
);
CREATE INDEX ON public.campaign_reward_configs (campaign_id, condition_number);

CREATE TABLE public.recipients (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id     uuid REFERENCES public.campaigns (id),
    audience_id     uuid,
    contact_id      uuid,
    redemption_code text NOT NULL UNIQUE,
    purl_token      text UNIQUE,
    first_name      text,
    last_name       text,
    email           text,
    phone           text,
    address         text,
    address2        text,
    city            text,
    state           text,
    zip             text,
    country         text,
    custom_fields   jsonb,
    imb_serial      text,
    status          text,
    delivered_at    timestamptz,
    last_visited_at timestamptz,
    total_visits    integer,
    created_at      timestamptz DEFAULT now()
);
CREATE INDEX ON public.recipients (campaign_id);
CREATE INDEX ON public.recipients (purl_token);
CREATE INDEX ON public.recipients (redemption_code);
CREATE INDEX ON public.recipients (contact_id);

CREATE TABLE public.gift_cards (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pool_id          uuid REFERENCES public.gift_card_pools (id),
    card_code        text,
    pin_code         text,
    value_amount     decimal,
    status           text,
    recipient_id     uuid REFERENCES public.recipients (id),
    campaign_id      uuid REFERENCES public.campaigns (id),
    claimed_at       timestamptz,
    delivered_at     timestamptz,
    delivery_method  text,
    delivery_address text,
    redeemed_at      timestamptz,
    created_at       timestamptz DEFAULT now()
);
CREATE INDEX ON public.gift_cards (pool_id);
CREATE INDEX ON public.gift_cards (status);
CREATE INDEX ON public.gift_cards (recipient_id);
CREATE INDEX ON public.gift_cards (campaign_id);

CREATE TABLE public.tracked_phone_numbers (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id       uuid REFERENCES public.campaigns (id),
    phone_number      text,
    forward_to_number text,
    provider          text,
    provider_sid      text,
    is_active         boolean,
    created_at        timestamptz DEFAULT now()
);
CREATE INDEX ON public.tracked_phone_numbers (campaign_id);
CREATE INDEX ON public.tracked_phone_numbers (phone_number);

CREATE TABLE public.call_sessions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id           uuid REFERENCES public.campaigns (id),
    tracked_number_id     uuid REFERENCES public.tracked_phone_numbers (id),
    recipient_id          uuid REFERENCES public.recipients (id),
    caller_phone          text,
    match_status          text,
    call_status           text,
    call_started_at       timestamptz,
    call_answered_at      timestamptz,
    call_ended_at         timestamptz,
    call_duration_seconds integer,
    recording_url         text,
    recording_sid         text,
    recording_duration    integer,
    twilio_call_sid       text,
    agent_user_id         uuid REFERENCES auth.users (id),
    forward_to_number     text,
    notes                 text,
    created_at            timestamptz DEFAULT now()
);
CREATE INDEX ON public.call_sessions (campaign_id);
CREATE INDEX ON public.call_sessions (recipient_id);
CREATE INDEX ON public.call_sessions (call_started_at);
CREATE INDEX ON public.call_sessions (twilio_call_sid);

CREATE TABLE public.call_conditions_met (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    call_session_id  uuid REFERENCES public.call_sessions (id),
    campaign_id      uuid REFERENCES public.campaigns (id),
    recipient_id     uuid REFERENCES public.recipients (id),
    condition_number integer,
    met_at           timestamptz,
    met_by_agent_id  uuid REFERENCES auth.users (id),
    gift_card_id     uuid REFERENCES public.gift_cards (id),
    delivery_status  text,
    notes            text,
    created_at       timestamptz DEFAULT now()
);
CREATE INDEX ON public.call_conditions_met (call_session_id);
CREATE INDEX ON public.call_conditions_met (recipient_id, condition_number);

-- A partitioned table's primary key must hold the partition key.
CREATE TABLE public.events (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    campaign_id  uuid REFERENCES public.campaigns (id),
    recipient_id uuid REFERENCES public.recipients (id),
    event_type   text,
    event_data   jsonb,
    ip_address   text,
    user_agent   text,
    referrer     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ON public.events (campaign_id, event_type);
CREATE INDEX ON public.events (recipient_id);
CREATE INDEX ON public.events (created_at);

-- Monthly partitions from two months back to a year ahead of the day it is loaded.
DO $$
DECLARE
    m timestamp;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '2 months',
                                    date_trunc('month', now() AT TIME ZONE 'UTC') + interval '12 months',
                                    interval '1 month') LOOP
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
                       'events_' || to_char(m, 'YYYY_MM'), m AT TIME ZONE 'UTC',
                       (m + interval '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END
$$;


-- Row level security and the policies the document describes -------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'clients', 'profiles', 'user_roles', 'org_members',
        'client_users', 'campaigns', 'campaign_conditions', 'campaign_reward_configs',
        'recipients', 'gift_card_brands', 'gift_card_pools', 'gift_cards',
        'tracked_phone_numbers', 'call_sessions', 'call_conditions_met', 'events'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

-- SECURITY DEFINER so that reading user_roles does not recurse into its own policies.
CREATE FUNCTION public.has_role(_user uuid, _role public.app_role) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM public.user_roles WHERE user_id = _user AND role = _role)
$$;

-- "Admins see all, users see their own org."
CREATE POLICY "Admins see all organizations" ON public.organizations
    FOR SELECT TO authenticated USING (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users see their own organization" ON public.organizations
    FOR SELECT TO authenticated
    USING (id IN (SELECT org_id FROM public.org_members WHERE user_id = auth.uid()));
CREATE POLICY "Users see their own memberships" ON public.org_members
    FOR SELECT TO authenticated USING (user_id = auth.uid());

-- "Users see clients they have access to via client_users."
CREATE POLICY "Users see their own client assignments" ON public.client_users
    FOR SELECT TO authenticated USING (user_id = auth.uid());
CREATE POLICY "Users see their clients" ON public.clients
    FOR SELECT TO authenticated
    USING (id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));

-- "Users see campaigns for their accessible clients."
CREATE POLICY "Users see campaigns of their clients" ON public.campaigns
    FOR SELECT TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));

-- "Accessible by client that owns campaign."
CREATE POLICY "Users see recipients of their campaigns" ON public.recipients
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));

-- "Client users see cards in their pools."
CREATE POLICY "Users see cards in their pools" ON public.gift_cards
    FOR SELECT TO authenticated
    USING (pool_id IN (
        SELECT p.id FROM public.gift_card_pools p
        JOIN public.client_users cu ON cu.client_id = p.client_id
        WHERE cu.user_id = auth.uid()));

GRANT EXECUTE ON FUNCTION public.has_role(uuid, public.app_role) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;

COMMIT;
