-- The call-tracking part of the platform schema (../shared/SCHEMA.md).
-- User ids belong to auth.users and contacts/audiences/templates/landing_pages/contact_lists
-- live outside this schema, so those columns are plain UUIDs without foreign keys.

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- organizations ---------------------------------------------------------------------------

CREATE TABLE organizations (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name          TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('internal', 'agency', 'direct')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    settings_json JSONB NOT NULL DEFAULT '{}'
);

-- clients ---------------------------------------------------------------------------------

CREATE TABLE clients (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            UUID NOT NULL REFERENCES organizations (id),
    name              TEXT NOT NULL,
    industry          TEXT CHECK (industry IN (
                          'roofing', 'rei', 'auto_service', 'home_services', 'insurance',
                          'real_estate', 'solar', 'hvac', 'legal', 'dental', 'medical', 'other')),
    logo_url          TEXT,
    brand_colors_json JSONB NOT NULL DEFAULT '{}',
    website_url       TEXT,
    api_key_hash      TEXT,
    credits           INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX clients_org_id_idx ON clients (org_id);
-- Unique: an API key must identify exactly one client.
CREATE UNIQUE INDEX clients_api_key_hash_key ON clients (api_key_hash);

-- profiles --------------------------------------------------------------------------------

-- id is the auth.users id, supplied by the platform, so it has no default.
CREATE TABLE profiles (
    id         UUID PRIMARY KEY,
    email      TEXT,
    full_name  TEXT,
    avatar_url TEXT,
    phone      TEXT,
    timezone   TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TRIGGER profiles_set_updated_at
    BEFORE UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- user_roles ------------------------------------------------------------------------------

CREATE TABLE user_roles (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    UUID NOT NULL,
    role       TEXT NOT NULL CHECK (role IN (
                   'admin', 'tech_support', 'agency_owner', 'company_owner', 'developer',
                   'call_center')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, role)
);

CREATE INDEX user_roles_user_id_idx ON user_roles (user_id);
CREATE INDEX user_roles_role_idx ON user_roles (role);

-- org_members -----------------------------------------------------------------------------

CREATE TABLE org_members (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX org_members_org_id_user_id_key ON org_members (org_id, user_id);
-- Access checks start from the user.
CREATE INDEX org_members_user_id_idx ON org_members (user_id);

-- client_users ----------------------------------------------------------------------------

CREATE TABLE client_users (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id  UUID NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX client_users_client_id_user_id_key ON client_users (client_id, user_id);
-- Access checks start from the user.
CREATE INDEX client_users_user_id_idx ON client_users (user_id);

-- campaigns -------------------------------------------------------------------------------

CREATE TABLE campaigns (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id          UUID NOT NULL REFERENCES clients (id),
    name               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'draft' CHECK (status IN (
                           'draft', 'ready', 'in_production', 'mailed', 'active', 'completed')),
    size               TEXT CHECK (size IN ('4x6', '6x9', '6x11', 'letter')),
    postage            TEXT CHECK (postage IN ('standard', 'first_class')),
    vendor             TEXT,
    mail_date          DATE,
    audience_id        UUID,
    contact_list_id    UUID,
    template_id        UUID,
    landing_page_id    UUID,
    lp_mode            TEXT CHECK (lp_mode IN ('bridge', 'redirect')),
    base_lp_url        TEXT,
    utm_source         TEXT,
    utm_medium         TEXT,
    utm_campaign       TEXT,
    created_by_user_id UUID,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at         TIMESTAMPTZ
);

CREATE INDEX campaigns_client_id_idx ON campaigns (client_id);
CREATE INDEX campaigns_status_idx ON campaigns (status);
CREATE INDEX campaigns_mail_date_idx ON campaigns (mail_date);

CREATE TRIGGER campaigns_set_updated_at
    BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- campaign_conditions ---------------------------------------------------------------------

CREATE TABLE campaign_conditions (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id      UUID NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    condition_number INTEGER NOT NULL CHECK (condition_number > 0),
    condition_name   TEXT,
    trigger_type     TEXT NOT NULL DEFAULT 'call' CHECK (trigger_type IN (
                         'call', 'crm_event', 'time_delay')),
    crm_event_name   TEXT,
    time_delay_hours INTEGER,
    is_active        BOOLEAN NOT NULL DEFAULT true,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Unique: agents mark conditions by number, so a number names one condition per campaign.
CREATE UNIQUE INDEX campaign_conditions_campaign_id_condition_number_key
    ON campaign_conditions (campaign_id, condition_number);

-- gift_card_brands ------------------------------------------------------------------------

CREATE TABLE gift_card_brands (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_name     TEXT NOT NULL,
    brand_logo_url TEXT,
    default_value  NUMERIC(12,2),
    is_active      BOOLEAN NOT NULL DEFAULT true,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- gift_card_pools -------------------------------------------------------------------------

CREATE TABLE gift_card_pools (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       UUID REFERENCES clients (id),  -- NULL: admin master pool
    brand_id        UUID REFERENCES gift_card_brands (id),
    pool_name       TEXT NOT NULL,
    value_amount    NUMERIC(12,2),
    total_cards     INTEGER NOT NULL DEFAULT 0 CHECK (total_cards >= 0),
    available_cards INTEGER NOT NULL DEFAULT 0 CHECK (available_cards >= 0),
    reserved_cards  INTEGER NOT NULL DEFAULT 0 CHECK (reserved_cards >= 0),
    delivered_cards INTEGER NOT NULL DEFAULT 0 CHECK (delivered_cards >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX gift_card_pools_client_id_idx ON gift_card_pools (client_id);
CREATE INDEX gift_card_pools_brand_id_idx ON gift_card_pools (brand_id);

-- campaign_reward_configs -----------------------------------------------------------------

CREATE TABLE campaign_reward_configs (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id        UUID NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    condition_number   INTEGER NOT NULL CHECK (condition_number > 0),
    gift_card_pool_id  UUID REFERENCES gift_card_pools (id),
    reward_description TEXT,
    sms_template       TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Unique: a met condition provisions exactly one reward, so it needs exactly one config.
CREATE UNIQUE INDEX campaign_reward_configs_campaign_id_condition_number_key
    ON campaign_reward_configs (campaign_id, condition_number);
CREATE INDEX campaign_reward_configs_gift_card_pool_id_idx
    ON campaign_reward_configs (gift_card_pool_id);

-- recipients ------------------------------------------------------------------------------

CREATE TABLE recipients (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id     UUID NOT NULL REFERENCES campaigns (id),
    audience_id     UUID,
    contact_id      UUID,
    redemption_code TEXT NOT NULL,
    purl_token      TEXT,
    first_name      TEXT,
    last_name       TEXT,
    email           TEXT,
    phone           TEXT,
    address         TEXT,
    address2        TEXT,
    city            TEXT,
    state           TEXT,
    zip             TEXT,
    country         TEXT,
    custom_fields   JSONB NOT NULL DEFAULT '{}',
    imb_serial      TEXT,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN (
                        'active', 'delivered', 'bounced')),
    delivered_at    TIMESTAMPTZ,
    last_visited_at TIMESTAMPTZ,
    total_visits    INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ
);

CREATE INDEX recipients_campaign_id_idx ON recipients (campaign_id);
CREATE UNIQUE INDEX recipients_purl_token_key ON recipients (purl_token);
CREATE UNIQUE INDEX recipients_redemption_code_key ON recipients (redemption_code);
CREATE INDEX recipients_contact_id_idx ON recipients (contact_id);

-- gift_cards ------------------------------------------------------------------------------

CREATE TABLE gift_cards (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pool_id          UUID NOT NULL REFERENCES gift_card_pools (id),
    card_code        TEXT NOT NULL,
    pin_code         TEXT,
    value_amount     NUMERIC(12,2),
    status           TEXT NOT NULL DEFAULT 'available' CHECK (status IN (
                         'available', 'claimed', 'delivered', 'redeemed', 'expired')),
    recipient_id     UUID REFERENCES recipients (id),
    campaign_id      UUID REFERENCES campaigns (id),
    claimed_at       TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    delivery_method  TEXT CHECK (delivery_method IN ('sms', 'email')),
    delivery_address TEXT,
    redeemed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX gift_cards_pool_id_idx ON gift_cards (pool_id);
CREATE INDEX gift_cards_status_idx ON gift_cards (status);
CREATE INDEX gift_cards_recipient_id_idx ON gift_cards (recipient_id);
CREATE INDEX gift_cards_campaign_id_idx ON gift_cards (campaign_id);

-- tracked_phone_numbers -------------------------------------------------------------------

CREATE TABLE tracked_phone_numbers (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id       UUID NOT NULL REFERENCES campaigns (id),
    phone_number      TEXT NOT NULL,
    forward_to_number TEXT NOT NULL,
    provider          TEXT NOT NULL DEFAULT 'twilio' CHECK (provider IN ('twilio')),
    provider_sid      TEXT,
    is_active         BOOLEAN NOT NULL DEFAULT true,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tracked_phone_numbers_campaign_id_idx ON tracked_phone_numbers (campaign_id);
CREATE INDEX tracked_phone_numbers_phone_number_idx ON tracked_phone_numbers (phone_number);

-- call_sessions ---------------------------------------------------------------------------

CREATE TABLE call_sessions (
    id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id           UUID NOT NULL REFERENCES campaigns (id),
    tracked_number_id     UUID NOT NULL REFERENCES tracked_phone_numbers (id),
    recipient_id          UUID REFERENCES recipients (id),
    caller_phone          TEXT,
    match_status          TEXT NOT NULL DEFAULT 'unmatched' CHECK (match_status IN (
                              'matched', 'unmatched')),
    call_status           TEXT NOT NULL DEFAULT 'initiated' CHECK (call_status IN (
                              'initiated', 'ringing', 'in-progress', 'completed', 'busy',
                              'no-answer', 'failed', 'canceled')),
    call_started_at       TIMESTAMPTZ,
    call_answered_at      TIMESTAMPTZ,
    call_ended_at         TIMESTAMPTZ,
    call_duration_seconds INTEGER,
    recording_url         TEXT,
    recording_sid         TEXT,
    recording_duration    INTEGER,
    twilio_call_sid       TEXT,
    agent_user_id         UUID,
    forward_to_number     TEXT,
    notes                 TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX call_sessions_campaign_id_idx ON call_sessions (campaign_id);
CREATE INDEX call_sessions_recipient_id_idx ON call_sessions (recipient_id);
CREATE INDEX call_sessions_call_started_at_idx ON call_sessions (call_started_at);
CREATE INDEX call_sessions_twilio_call_sid_idx ON call_sessions (twilio_call_sid);
CREATE INDEX call_sessions_tracked_number_id_idx ON call_sessions (tracked_number_id);

-- call_conditions_met ---------------------------------------------------------------------

CREATE TABLE call_conditions_met (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    call_session_id  UUID REFERENCES call_sessions (id),
    campaign_id      UUID NOT NULL REFERENCES campaigns (id),
    recipient_id     UUID NOT NULL REFERENCES recipients (id),
    condition_number INTEGER NOT NULL CHECK (condition_number > 0),
    met_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    met_by_agent_id  UUID,
    gift_card_id     UUID REFERENCES gift_cards (id),
    delivery_status  TEXT DEFAULT 'pending' CHECK (delivery_status IN (
                         'pending', 'sent', 'delivered', 'failed')),
    notes            TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX call_conditions_met_call_session_id_idx ON call_conditions_met (call_session_id);
-- Unique: a recipient meets each condition at most once, however many agents click at once.
CREATE UNIQUE INDEX call_conditions_met_recipient_id_condition_number_key
    ON call_conditions_met (recipient_id, condition_number);
CREATE INDEX call_conditions_met_campaign_id_idx ON call_conditions_met (campaign_id);
-- Unique: a card is provisioned to one condition only.
CREATE UNIQUE INDEX call_conditions_met_gift_card_id_key ON call_conditions_met (gift_card_id);

-- events ----------------------------------------------------------------------------------

CREATE TABLE events (
    id           UUID NOT NULL DEFAULT gen_random_uuid(),
    campaign_id  UUID REFERENCES campaigns (id),
    recipient_id UUID REFERENCES recipients (id),
    event_type   TEXT NOT NULL CHECK (event_type IN (
                     'purl_visit', 'qr_scan', 'form_submit', 'call', 'gift_card_redeem')),
    event_data   JSONB NOT NULL DEFAULT '{}',
    ip_address   TEXT,
    user_agent   TEXT,
    referrer     TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE INDEX events_campaign_id_event_type_idx ON events (campaign_id, event_type);
CREATE INDEX events_recipient_id_idx ON events (recipient_id);
CREATE INDEX events_created_at_idx ON events (created_at);

-- Catches rows outside the monthly partitions so an insert never fails for lack of one.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Creates monthly partitions events_YYYY_MM (UTC months) from last month through
-- months_ahead months ahead; returns how many it created. Rows already sitting in
-- events_default for a new month are moved into it, since Postgres refuses to create a
-- partition whose range the default partition already holds rows for.
CREATE OR REPLACE FUNCTION calltrack_ensure_event_partitions(months_ahead int DEFAULT 12)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    sch         text;
    first_month timestamp;
    lo          timestamptz;
    hi          timestamptz;
    part        text;
    has_rows    boolean;
    created     integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 THEN
        RAISE EXCEPTION 'months_ahead must be >= 0, got %', months_ahead;
    END IF;

    -- Serialises concurrent callers (e.g. two instances starting at once).
    PERFORM pg_advisory_xact_lock(hashtext('calltrack_ensure_event_partitions'));

    SELECT n.nspname INTO sch
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'events'::regclass;

    first_month := date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month';

    FOR i IN 0 .. months_ahead + 1 LOOP
        lo := (first_month + make_interval(months => i)) AT TIME ZONE 'UTC';
        hi := (first_month + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
        part := 'events_' || to_char(first_month + make_interval(months => i), 'YYYY_MM');

        CONTINUE WHEN to_regclass(format('%I.%I', sch, part)) IS NOT NULL;

        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.events_default '
                       'WHERE created_at >= %L AND created_at < %L)', sch, lo, hi)
            INTO has_rows;

        IF has_rows THEN
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.events INCLUDING DEFAULTS '
                           'INCLUDING CONSTRAINTS)', sch, part, sch);
            EXECUTE format('WITH moved AS (DELETE FROM %I.events_default '
                           'WHERE created_at >= %L AND created_at < %L RETURNING *) '
                           'INSERT INTO %I.%I SELECT * FROM moved', sch, lo, hi, sch, part);
            EXECUTE format('ALTER TABLE %I.events ATTACH PARTITION %I.%I '
                           'FOR VALUES FROM (%L) TO (%L)', sch, sch, part, lo, hi);
        ELSE
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.events '
                           'FOR VALUES FROM (%L) TO (%L)', sch, part, sch, lo, hi);
        END IF;
        created := created + 1;
    END LOOP;

    RETURN created;
END;
$$;

SELECT calltrack_ensure_event_partitions();

-- Row level security ----------------------------------------------------------------------
-- Enabled without policies: only the owner (this service) reads these until the policy
-- migration lands. Not FORCEd, so the owner keeps full access.

ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_cards ENABLE ROW LEVEL SECURITY;
ALTER TABLE tracked_phone_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_conditions_met ENABLE ROW LEVEL SECURITY;
