-- =========================================================================================
-- supabase_platform.sql — test fixture: the direct-mail platform's own database
-- =========================================================================================
--
-- What this models
--   The schema of the platform's Supabase project as the platform's own migrations left
--   it: the Supabase roles (anon, authenticated, service_role), a minimal `auth` schema
--   (auth.users, auth.uid(), auth.role()), Postgres ENUM types for most enumerations,
--   the call-tracking tables of ../shared/SCHEMA.md plus columns and tables calltrack
--   knows nothing about, RLS with the platform's own policies written against auth.uid(),
--   and Supabase's default privileges (every new table in public is granted to anon,
--   authenticated and service_role).
--
-- Why
--   calltrack must be able to run "inside the platform's own database" (CONTRACT.md,
--   "Database"): `calltrack migrate` has to ADOPT this schema — add only what it owns, and
--   never drop, rename or retype a platform column, nor touch a platform policy. Tests
--   load this file into an empty database, run calltrack's migrations on top and check
--   that everything below is still exactly as it was.
--
--   Deliberate differences from calltrack's standalone migrations (migrations/V1__*.sql):
--     * enum-typed columns (app_role, campaign_status, call_status, ...) instead of TEXT +
--       CHECK — but some enumerations stay TEXT + CHECK, as on real platforms;
--     * user-id columns are foreign keys to auth.users(id);
--     * indexes have platform names (idx_<table>_<columns>) and are plain, not unique,
--       where SCHEMA.md only says "index" (e.g. call_sessions (twilio_call_sid));
--     * events partitions are named events_yYYYYmMM, not calltrack's events_YYYY_MM;
--     * extra columns, some NOT NULL with defaults, and extra tables.
--
-- How to load it
--   As a NON-superuser role that owns the (empty) database and has CREATEROLE:
--     psql -v ON_ERROR_STOP=1 -d <db> -f lab/tests/platform/supabase_platform.sql
--   No extensions are needed (gen_random_uuid() is built in since PostgreSQL 13).
--   No rows are seeded: tests seed their own.
-- =========================================================================================


-- -----------------------------------------------------------------------------------------
-- Supabase roles (cluster-wide: create only if missing; another database of the cluster,
-- possibly being set up at this very moment, may already have created them)
-- -----------------------------------------------------------------------------------------

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;  -- created concurrently
            END;
        END IF;
    END LOOP;
END
$$;

-- As on Supabase (where `postgres` is a member of these roles), the owner can SET ROLE to
-- them, e.g. to test policies: SET ROLE authenticated.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;  -- granted concurrently
            END;
        END IF;
    END LOOP;
END
$$;


BEGIN;

SET LOCAL search_path = public;


-- -----------------------------------------------------------------------------------------
-- Supabase default privileges: every table, sequence and function the owner creates in
-- public from now on (the platform's, and later calltrack's) is granted to the API roles.
-- -----------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;


-- -----------------------------------------------------------------------------------------
-- auth: a plausible subset of Supabase Auth
-- -----------------------------------------------------------------------------------------

CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE TABLE auth.users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email              text,
    encrypted_password text,
    raw_user_meta_data jsonb,
    created_at         timestamptz DEFAULT now(),
    updated_at         timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON auth.users (email);

-- As Supabase defines them: the JWT's claims arrive as settings set by PostgREST.
CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

CREATE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;


-- -----------------------------------------------------------------------------------------
-- Enum types
-- -----------------------------------------------------------------------------------------

CREATE TYPE public.app_role AS ENUM (
    'admin', 'tech_support', 'agency_owner', 'company_owner', 'developer', 'call_center');
CREATE TYPE public.industry_type AS ENUM (
    'roofing', 'rei', 'auto_service', 'home_services', 'insurance', 'real_estate', 'solar',
    'hvac', 'legal', 'dental', 'medical', 'other');
CREATE TYPE public.campaign_status AS ENUM (
    'draft', 'ready', 'in_production', 'mailed', 'active', 'completed');
CREATE TYPE public.campaign_size AS ENUM ('4x6', '6x9', '6x11', 'letter');
CREATE TYPE public.postage_type AS ENUM ('standard', 'first_class');
CREATE TYPE public.lp_mode AS ENUM ('bridge', 'redirect');
CREATE TYPE public.gift_card_status AS ENUM (
    'available', 'claimed', 'delivered', 'redeemed', 'expired');
CREATE TYPE public.call_status AS ENUM (
    'initiated', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer', 'failed',
    'canceled');
CREATE TYPE public.match_status AS ENUM ('matched', 'unmatched');
CREATE TYPE public.delivery_status AS ENUM ('pending', 'sent', 'delivered', 'failed');
CREATE TYPE public.event_type AS ENUM (
    'purl_visit', 'qr_scan', 'form_submit', 'call', 'gift_card_redeem');


-- -----------------------------------------------------------------------------------------
-- updated_at trigger function (the platform's own)
-- -----------------------------------------------------------------------------------------

CREATE FUNCTION public.handle_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;


-- -----------------------------------------------------------------------------------------
-- Tenancy: organizations, clients, users
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.organizations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    type          text NOT NULL CHECK (type IN ('internal', 'agency', 'direct')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    settings_json jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE public.clients (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES public.organizations (id),
    name              text NOT NULL,
    industry          public.industry_type,
    logo_url          text,
    brand_colors_json jsonb NOT NULL DEFAULT '{}',
    website_url       text,
    api_key_hash      text,
    credits           integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- platform-only columns
    timezone          text NOT NULL DEFAULT 'America/New_York',
    deleted_at        timestamptz
);
CREATE INDEX idx_clients_org_id ON public.clients (org_id);
CREATE INDEX idx_clients_api_key_hash ON public.clients (api_key_hash);

CREATE TABLE public.profiles (
    id         uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    email      text,
    full_name  text,
    avatar_url text,
    phone      text,
    timezone   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER update_profiles_updated_at
    BEFORE UPDATE ON public.profiles
    FOR EACH ROW EXECUTE FUNCTION public.handle_updated_at();

CREATE TABLE public.user_roles (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role       public.app_role NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, role)
);
CREATE INDEX idx_user_roles_user_id ON public.user_roles (user_id);
CREATE INDEX idx_user_roles_role ON public.user_roles (role);

CREATE TABLE public.org_members (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_org_members_org_id_user_id ON public.org_members (org_id, user_id);

CREATE TABLE public.client_users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id  uuid NOT NULL REFERENCES public.clients (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_client_users_client_id_user_id ON public.client_users (client_id, user_id);

-- Used by the policies; SECURITY DEFINER so that reading user_roles does not recurse
-- into user_roles' own policies.
CREATE FUNCTION public.has_role(_user uuid, _role public.app_role) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM public.user_roles WHERE user_id = _user AND role = _role)
$$;


-- -----------------------------------------------------------------------------------------
-- Platform-only tables campaigns and recipients point at
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.contacts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id  uuid NOT NULL REFERENCES public.clients (id) ON DELETE CASCADE,
    first_name text,
    last_name  text,
    email      text,
    phone      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_contacts_client_id ON public.contacts (client_id);

CREATE TABLE public.contact_lists (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL REFERENCES public.clients (id) ON DELETE CASCADE,
    name         text NOT NULL,
    contact_count integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_contact_lists_client_id ON public.contact_lists (client_id);

CREATE TABLE public.templates (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL REFERENCES public.clients (id) ON DELETE CASCADE,
    name        text NOT NULL,
    size        public.campaign_size,
    design_json jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_templates_client_id ON public.templates (client_id);

CREATE TABLE public.landing_pages (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL REFERENCES public.clients (id) ON DELETE CASCADE,
    name         text NOT NULL,
    slug         text,
    content_json jsonb NOT NULL DEFAULT '{}',
    published    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_landing_pages_client_id ON public.landing_pages (client_id);


-- -----------------------------------------------------------------------------------------
-- Campaigns
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.campaigns (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id          uuid NOT NULL REFERENCES public.clients (id),
    name               text NOT NULL,
    status             public.campaign_status NOT NULL DEFAULT 'draft'::public.campaign_status,
    size               public.campaign_size,
    postage            public.postage_type,
    vendor             text,
    mail_date          date,
    audience_id        uuid,  -- deprecated; the audiences table is gone
    contact_list_id    uuid REFERENCES public.contact_lists (id) ON DELETE SET NULL,
    template_id        uuid REFERENCES public.templates (id) ON DELETE SET NULL,
    landing_page_id    uuid REFERENCES public.landing_pages (id) ON DELETE SET NULL,
    lp_mode            public.lp_mode,
    base_lp_url        text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    created_by_user_id uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    -- platform-only column
    budget_cents       bigint NOT NULL DEFAULT 0
);
CREATE INDEX idx_campaigns_client_id ON public.campaigns (client_id);
CREATE INDEX idx_campaigns_status ON public.campaigns (status);
CREATE INDEX idx_campaigns_mail_date ON public.campaigns (mail_date);
CREATE TRIGGER update_campaigns_updated_at
    BEFORE UPDATE ON public.campaigns
    FOR EACH ROW EXECUTE FUNCTION public.handle_updated_at();

CREATE TABLE public.campaign_conditions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id      uuid NOT NULL REFERENCES public.campaigns (id) ON DELETE CASCADE,
    condition_number integer NOT NULL,
    condition_name   text,
    trigger_type     text NOT NULL DEFAULT 'call'
                         CHECK (trigger_type IN ('call', 'crm_event', 'time_delay')),
    crm_event_name   text,
    time_delay_hours integer,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_campaign_conditions_campaign_id_condition_number
    ON public.campaign_conditions (campaign_id, condition_number);


-- -----------------------------------------------------------------------------------------
-- Gift cards: brands, pools, reward configs
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.gift_card_brands (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_name     text NOT NULL,
    brand_logo_url text,
    default_value  numeric(12,2),
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.gift_card_pools (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       uuid REFERENCES public.clients (id),  -- NULL: admin master pool
    brand_id        uuid REFERENCES public.gift_card_brands (id),
    pool_name       text NOT NULL,
    value_amount    numeric(12,2),
    total_cards     integer NOT NULL DEFAULT 0,
    available_cards integer NOT NULL DEFAULT 0,
    reserved_cards  integer NOT NULL DEFAULT 0,
    delivered_cards integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_gift_card_pools_client_id ON public.gift_card_pools (client_id);
CREATE INDEX idx_gift_card_pools_brand_id ON public.gift_card_pools (brand_id);

CREATE TABLE public.campaign_reward_configs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id        uuid NOT NULL REFERENCES public.campaigns (id) ON DELETE CASCADE,
    condition_number   integer NOT NULL,
    gift_card_pool_id  uuid REFERENCES public.gift_card_pools (id),
    reward_description text,
    sms_template       text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_campaign_reward_configs_campaign_id_condition_number
    ON public.campaign_reward_configs (campaign_id, condition_number);


-- -----------------------------------------------------------------------------------------
-- Recipients
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.recipients (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id     uuid NOT NULL REFERENCES public.campaigns (id),
    audience_id     uuid,  -- deprecated
    contact_id      uuid REFERENCES public.contacts (id) ON DELETE SET NULL,
    redemption_code text NOT NULL UNIQUE,  -- SCHEMA.md: "Unique code (required)"
    purl_token      text UNIQUE,           -- SCHEMA.md: "Unique PURL token"
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
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    imb_serial      text,
    status          text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'delivered', 'bounced')),
    delivered_at    timestamptz,
    last_visited_at timestamptz,
    total_visits    integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    -- platform-only column
    list_position   integer
);
CREATE INDEX idx_recipients_campaign_id ON public.recipients (campaign_id);
CREATE INDEX idx_recipients_purl_token ON public.recipients (purl_token);
CREATE INDEX idx_recipients_redemption_code ON public.recipients (redemption_code);
CREATE INDEX idx_recipients_contact_id ON public.recipients (contact_id);


-- -----------------------------------------------------------------------------------------
-- Gift cards
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.gift_cards (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pool_id          uuid NOT NULL REFERENCES public.gift_card_pools (id),
    card_code        text NOT NULL,
    pin_code         text,
    value_amount     numeric(12,2),
    status           public.gift_card_status NOT NULL
                         DEFAULT 'available'::public.gift_card_status,
    recipient_id     uuid REFERENCES public.recipients (id),
    campaign_id      uuid REFERENCES public.campaigns (id),
    claimed_at       timestamptz,
    delivered_at     timestamptz,
    delivery_method  text CHECK (delivery_method IN ('sms', 'email')),
    delivery_address text,
    redeemed_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- platform-only column
    external_ref     text
);
CREATE INDEX idx_gift_cards_pool_id ON public.gift_cards (pool_id);
CREATE INDEX idx_gift_cards_status ON public.gift_cards (status);
CREATE INDEX idx_gift_cards_recipient_id ON public.gift_cards (recipient_id);
CREATE INDEX idx_gift_cards_campaign_id ON public.gift_cards (campaign_id);


-- -----------------------------------------------------------------------------------------
-- Call tracking
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.tracked_phone_numbers (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id       uuid NOT NULL REFERENCES public.campaigns (id),
    phone_number      text NOT NULL,
    forward_to_number text NOT NULL,
    provider          text NOT NULL DEFAULT 'twilio' CHECK (provider IN ('twilio')),
    provider_sid      text,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- platform-only column
    label             text
);
CREATE INDEX idx_tracked_phone_numbers_campaign_id ON public.tracked_phone_numbers (campaign_id);
CREATE INDEX idx_tracked_phone_numbers_phone_number ON public.tracked_phone_numbers (phone_number);

CREATE TABLE public.call_sessions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id           uuid NOT NULL REFERENCES public.campaigns (id),
    tracked_number_id     uuid NOT NULL REFERENCES public.tracked_phone_numbers (id),
    recipient_id          uuid REFERENCES public.recipients (id),
    caller_phone          text,
    match_status          public.match_status NOT NULL
                              DEFAULT 'unmatched'::public.match_status,
    call_status           public.call_status NOT NULL
                              DEFAULT 'initiated'::public.call_status,
    call_started_at       timestamptz,
    call_answered_at      timestamptz,
    call_ended_at         timestamptz,
    call_duration_seconds integer,
    recording_url         text,
    recording_sid         text,
    recording_duration    integer,
    twilio_call_sid       text,
    agent_user_id         uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    forward_to_number     text,
    notes                 text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- platform-only columns
    source                text NOT NULL DEFAULT 'twilio',
    metadata              jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_call_sessions_campaign_id ON public.call_sessions (campaign_id);
CREATE INDEX idx_call_sessions_recipient_id ON public.call_sessions (recipient_id);
CREATE INDEX idx_call_sessions_call_started_at ON public.call_sessions (call_started_at);
CREATE INDEX idx_call_sessions_twilio_call_sid ON public.call_sessions (twilio_call_sid);

CREATE TABLE public.call_conditions_met (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    call_session_id  uuid REFERENCES public.call_sessions (id),
    campaign_id      uuid NOT NULL REFERENCES public.campaigns (id),
    recipient_id     uuid NOT NULL REFERENCES public.recipients (id),
    condition_number integer NOT NULL,
    met_at           timestamptz NOT NULL DEFAULT now(),
    met_by_agent_id  uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    gift_card_id     uuid REFERENCES public.gift_cards (id),
    delivery_status  public.delivery_status DEFAULT 'pending'::public.delivery_status,
    notes            text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_call_conditions_met_call_session_id
    ON public.call_conditions_met (call_session_id);
CREATE INDEX idx_call_conditions_met_recipient_id_condition_number
    ON public.call_conditions_met (recipient_id, condition_number);


-- -----------------------------------------------------------------------------------------
-- Events: partitioned by month on created_at (partitions events_yYYYYmMM)
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.events (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    campaign_id  uuid REFERENCES public.campaigns (id),
    recipient_id uuid REFERENCES public.recipients (id),
    event_type   public.event_type NOT NULL,
    event_data   jsonb NOT NULL DEFAULT '{}',
    ip_address   text,
    user_agent   text,
    referrer     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_events_campaign_id_event_type ON public.events (campaign_id, event_type);
CREATE INDEX idx_events_recipient_id ON public.events (recipient_id);
CREATE INDEX idx_events_created_at ON public.events (created_at);

-- Monthly partitions 2026-10 .. 2027-12 (bounds are UTC midnights), then a default one.
DO $$
DECLARE
    m timestamp;
    part text;
BEGIN
    FOR m IN SELECT generate_series(timestamp '2026-10-01', timestamp '2027-12-01',
                                    interval '1 month') LOOP
        part := 'events_' || to_char(m, '"y"YYYY"m"MM');
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.events '
                       'FOR VALUES FROM (%L) TO (%L)',
                       part, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
    END LOOP;
END
$$;
CREATE TABLE public.events_default PARTITION OF public.events DEFAULT;
ALTER TABLE public.events_default ENABLE ROW LEVEL SECURITY;


-- -----------------------------------------------------------------------------------------
-- Audit logs (the platform's own; note the plural)
-- -----------------------------------------------------------------------------------------

CREATE TABLE public.audit_logs (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    action     text NOT NULL,
    table_name text,
    record_id  uuid,
    old_data   jsonb,
    new_data   jsonb,
    ip_address text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_audit_logs_user_id ON public.audit_logs (user_id);
CREATE INDEX idx_audit_logs_table_name_record_id ON public.audit_logs (table_name, record_id);


-- -----------------------------------------------------------------------------------------
-- Row level security (enabled, not forced: the owner keeps full access)
-- -----------------------------------------------------------------------------------------

ALTER TABLE public.organizations           ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.clients                 ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.profiles                ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_roles              ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.org_members             ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.client_users            ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.contacts                ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.contact_lists           ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.templates               ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.landing_pages           ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaigns               ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaign_conditions     ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.gift_card_brands        ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.gift_card_pools         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaign_reward_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.recipients              ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.gift_cards              ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.tracked_phone_numbers   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.call_sessions           ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.call_conditions_met     ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.events                  ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.audit_logs              ENABLE ROW LEVEL SECURITY;

-- organizations
CREATE POLICY "Admins can manage all organizations" ON public.organizations
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Members can view their organization" ON public.organizations
    FOR SELECT TO authenticated
    USING (id IN (SELECT org_id FROM public.org_members WHERE user_id = auth.uid()));

-- clients
CREATE POLICY "Admins see all clients" ON public.clients
    FOR SELECT TO authenticated
    USING (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Admins can manage clients" ON public.clients
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users see their clients" ON public.clients
    FOR SELECT TO authenticated
    USING (id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));

-- profiles
CREATE POLICY "Users can view their own profile" ON public.profiles
    FOR SELECT TO authenticated
    USING (id = auth.uid());
CREATE POLICY "Users can update their own profile" ON public.profiles
    FOR UPDATE TO authenticated
    USING (id = auth.uid()) WITH CHECK (id = auth.uid());
CREATE POLICY "Admins can view all profiles" ON public.profiles
    FOR SELECT TO authenticated
    USING (public.has_role(auth.uid(), 'admin'));

-- user_roles
CREATE POLICY "Users can view their own roles" ON public.user_roles
    FOR SELECT TO authenticated
    USING (user_id = auth.uid());
CREATE POLICY "Admins can manage roles" ON public.user_roles
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- org_members
CREATE POLICY "Users can view their own memberships" ON public.org_members
    FOR SELECT TO authenticated
    USING (user_id = auth.uid());
CREATE POLICY "Admins can manage org members" ON public.org_members
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- client_users
CREATE POLICY "Users can view their own client assignments" ON public.client_users
    FOR SELECT TO authenticated
    USING (user_id = auth.uid());
CREATE POLICY "Admins can manage client users" ON public.client_users
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- contacts, contact_lists, templates, landing_pages
CREATE POLICY "Users can manage contacts of their clients" ON public.contacts
    FOR ALL TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()))
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Users can manage contact lists of their clients" ON public.contact_lists
    FOR ALL TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()))
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Users can manage templates of their clients" ON public.templates
    FOR ALL TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()))
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Users can manage landing pages of their clients" ON public.landing_pages
    FOR ALL TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()))
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));

-- campaigns
CREATE POLICY "Admins can manage all campaigns" ON public.campaigns
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users can view campaigns of their clients" ON public.campaigns
    FOR SELECT TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Users can create campaigns for their clients" ON public.campaigns
    FOR INSERT TO authenticated
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Users can update campaigns of their clients" ON public.campaigns
    FOR UPDATE TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()))
    WITH CHECK (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));

-- campaign_conditions, campaign_reward_configs
CREATE POLICY "Users can view conditions of their campaigns" ON public.campaign_conditions
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can manage campaign conditions" ON public.campaign_conditions
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users can view reward configs of their campaigns" ON public.campaign_reward_configs
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can manage reward configs" ON public.campaign_reward_configs
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- recipients
CREATE POLICY "Users can view recipients of their campaigns" ON public.recipients
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can manage all recipients" ON public.recipients
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- gift_card_brands, gift_card_pools, gift_cards
CREATE POLICY "Authenticated users can view active brands" ON public.gift_card_brands
    FOR SELECT TO authenticated
    USING (is_active);
CREATE POLICY "Admins can manage gift card brands" ON public.gift_card_brands
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users can view gift card pools of their clients" ON public.gift_card_pools
    FOR SELECT TO authenticated
    USING (client_id IN (SELECT client_id FROM public.client_users WHERE user_id = auth.uid()));
CREATE POLICY "Admins can manage gift card pools" ON public.gift_card_pools
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));
CREATE POLICY "Users can view gift cards in their pools" ON public.gift_cards
    FOR SELECT TO authenticated
    USING (pool_id IN (
        SELECT p.id FROM public.gift_card_pools p
        JOIN public.client_users cu ON cu.client_id = p.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can manage gift cards" ON public.gift_cards
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- tracked_phone_numbers
CREATE POLICY "Users can view tracked numbers of their campaigns" ON public.tracked_phone_numbers
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can manage tracked numbers" ON public.tracked_phone_numbers
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- call_sessions
CREATE POLICY "Users can view call sessions of their campaigns" ON public.call_sessions
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Call center agents can view all call sessions" ON public.call_sessions
    FOR SELECT TO authenticated
    USING (public.has_role(auth.uid(), 'call_center'));
CREATE POLICY "Call center agents can update call sessions" ON public.call_sessions
    FOR UPDATE TO authenticated
    USING (public.has_role(auth.uid(), 'call_center'))
    WITH CHECK (public.has_role(auth.uid(), 'call_center'));
CREATE POLICY "Admins can manage all call sessions" ON public.call_sessions
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- call_conditions_met
CREATE POLICY "Users can view conditions met on their campaigns" ON public.call_conditions_met
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Call center agents can record conditions met" ON public.call_conditions_met
    FOR INSERT TO authenticated
    WITH CHECK (public.has_role(auth.uid(), 'call_center') AND met_by_agent_id = auth.uid());
CREATE POLICY "Admins can manage conditions met" ON public.call_conditions_met
    FOR ALL TO authenticated
    USING (public.has_role(auth.uid(), 'admin')) WITH CHECK (public.has_role(auth.uid(), 'admin'));

-- events
CREATE POLICY "Users can view events of their campaigns" ON public.events
    FOR SELECT TO authenticated
    USING (campaign_id IN (
        SELECT c.id FROM public.campaigns c
        JOIN public.client_users cu ON cu.client_id = c.client_id
        WHERE cu.user_id = auth.uid()));
CREATE POLICY "Admins can view all events" ON public.events
    FOR SELECT TO authenticated
    USING (public.has_role(auth.uid(), 'admin'));

-- audit_logs
CREATE POLICY "Admins can view audit logs" ON public.audit_logs
    FOR SELECT TO authenticated
    USING (public.has_role(auth.uid(), 'admin'));


-- -----------------------------------------------------------------------------------------
-- Grants (explicit, as the platform's migrations write them; the default privileges above
-- already granted ALL on these tables to anon, authenticated and service_role)
-- -----------------------------------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE, DELETE ON
    public.organizations, public.clients, public.profiles, public.user_roles,
    public.org_members, public.client_users, public.contacts, public.contact_lists,
    public.templates, public.landing_pages, public.campaigns, public.campaign_conditions,
    public.gift_card_brands, public.gift_card_pools, public.campaign_reward_configs,
    public.recipients, public.gift_cards, public.tracked_phone_numbers,
    public.call_sessions, public.call_conditions_met, public.events, public.audit_logs
TO authenticated, service_role;

GRANT EXECUTE ON FUNCTION public.has_role(uuid, public.app_role) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt()
    TO anon, authenticated, service_role;

COMMIT;
