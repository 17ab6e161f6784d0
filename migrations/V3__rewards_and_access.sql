-- Rewards, the SMS outbox, the audit log, and row-level security for the agent API.

-- call_conditions_met ---------------------------------------------------------------------

-- The reward outcome of a met condition; a pool_exhausted row is provisioned later, when
-- cards arrive, so it must remember which config (and so which pool) it waits on.
ALTER TABLE call_conditions_met
    ADD COLUMN reward_status text NOT NULL DEFAULT 'no_reward_configured' CHECK (reward_status IN (
        'provisioned', 'pool_exhausted', 'no_reward_configured')),
    ADD COLUMN reward_config_id uuid REFERENCES campaign_reward_configs (id),
    ADD COLUMN delivery_error_code integer,
    ADD COLUMN delivery_error_message text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX call_conditions_met_waiting_idx
    ON call_conditions_met (reward_config_id, met_at) WHERE reward_status = 'pool_exhausted';

CREATE TRIGGER call_conditions_met_set_updated_at
    BEFORE UPDATE ON call_conditions_met
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- gift_cards: claiming the next available card of a pool is one index step.
CREATE INDEX gift_cards_available_idx ON gift_cards (pool_id, created_at) WHERE status = 'available';

-- sms_outbox ------------------------------------------------------------------------------

-- One reward SMS per met condition. A worker claims due rows with SKIP LOCKED and marks them
-- 'sending' (committed) before calling Twilio, so a crash between the call and the commit
-- leaves a 'sending' row whose lease expires and which is reconciled, never blindly resent.
CREATE TABLE sms_outbox (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    condition_met_id uuid NOT NULL UNIQUE REFERENCES call_conditions_met (id),
    to_phone         text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN (
                         'pending', 'sending', 'sent', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    sending_since    timestamptz,
    message_sid      text UNIQUE,
    error_code       integer,
    error_message    text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sms_outbox_due_idx ON sms_outbox (next_attempt_at) WHERE state IN ('pending', 'sending');

CREATE TRIGGER sms_outbox_set_updated_at
    BEFORE UPDATE ON sms_outbox
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- audit_log -------------------------------------------------------------------------------

CREATE TABLE audit_log (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    actor_user_id  uuid,
    actor_client_id uuid,
    action         text NOT NULL,
    entity_type    text NOT NULL,
    entity_id      uuid,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

-- Row-level security ----------------------------------------------------------------------

-- The API runs its queries as calltrack_api with the caller's clients set per transaction
-- (calltrack.client_ids, a comma list, or calltrack.all_clients = 'on' for admins), so a
-- handler that forgot a check still cannot read another client's rows. The role is
-- cluster-wide, so creating it tolerates a concurrent migration of another database.
DO $$
BEGIN
    CREATE ROLE calltrack_api NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT calltrack_api TO CURRENT_USER;

CREATE FUNCTION calltrack_client_visible(client uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(current_setting('calltrack.all_clients', true), '') = 'on'
    OR client = ANY (string_to_array(
        nullif(current_setting('calltrack.client_ids', true), ''), ',')::uuid[]);

CREATE FUNCTION calltrack_campaign_visible(campaign uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM campaigns c WHERE c.id = campaign AND calltrack_client_visible(c.client_id));

CREATE POLICY clients_visible ON clients USING (calltrack_client_visible(id));
CREATE POLICY campaigns_visible ON campaigns USING (calltrack_client_visible(client_id));
CREATE POLICY recipients_visible ON recipients USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY tracked_phone_numbers_visible ON tracked_phone_numbers
    USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY call_sessions_visible ON call_sessions USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY call_conditions_met_visible ON call_conditions_met
    USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY gift_cards_visible ON gift_cards USING (
    EXISTS (SELECT 1 FROM gift_card_pools p WHERE p.id = pool_id AND calltrack_client_visible(p.client_id))
    OR (campaign_id IS NOT NULL AND calltrack_campaign_visible(campaign_id)));

GRANT USAGE ON SCHEMA public TO calltrack_api;
GRANT SELECT ON organizations, clients, user_roles, org_members, client_users, campaigns,
    campaign_conditions, campaign_reward_configs, recipients, gift_card_brands, gift_card_pools,
    gift_cards, tracked_phone_numbers, call_sessions, call_conditions_met, sms_outbox
    TO calltrack_api;
GRANT INSERT, UPDATE ON call_conditions_met, audit_log TO calltrack_api;
GRANT UPDATE ON call_sessions TO calltrack_api;
GRANT INSERT ON events TO calltrack_api;
