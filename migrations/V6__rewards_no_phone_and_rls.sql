-- Rewards that have no phone to go to, and row-level security for the reward tables.

-- call_conditions_met ---------------------------------------------------------------------

-- A reward whose caller and recipient both lack a phone claims no card and is recorded
-- 'no_phone' (delivery_status NULL) instead of waiting in 'pending' for an SMS that cannot
-- be queued.
ALTER TABLE call_conditions_met DROP CONSTRAINT call_conditions_met_reward_status_check;
ALTER TABLE call_conditions_met ADD CONSTRAINT call_conditions_met_reward_status_check
    CHECK (reward_status IN ('provisioned', 'pool_exhausted', 'no_reward_configured', 'no_phone'));

-- Row-level security ----------------------------------------------------------------------

-- The tables of V3's policies left out that still carry a client's data. Same rule: the
-- restricted role calltrack_api sees only the clients named in calltrack.client_ids (or
-- all, with calltrack.all_clients = 'on'); the owner is not restricted (not FORCEd).
ALTER TABLE gift_card_pools ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_reward_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_conditions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_outbox ENABLE ROW LEVEL SECURITY;

-- A master pool (client_id NULL) belongs to no client, so only the all-clients scope sees it:
-- calltrack_client_visible(NULL) is true only then. Claiming a card from one runs with the
-- owner's rights after the caller's access to the session was checked.
CREATE POLICY gift_card_pools_visible ON gift_card_pools USING (calltrack_client_visible(client_id));
CREATE POLICY campaign_reward_configs_visible ON campaign_reward_configs
    USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY campaign_conditions_visible ON campaign_conditions
    USING (calltrack_campaign_visible(campaign_id));
CREATE POLICY sms_outbox_visible ON sms_outbox USING (
    EXISTS (SELECT 1 FROM call_conditions_met m
            WHERE m.id = condition_met_id AND calltrack_campaign_visible(m.campaign_id)));
