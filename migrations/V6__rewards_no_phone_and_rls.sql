-- Rewards that have no phone to go to, and row-level security for the reward tables.

-- call_conditions_met ---------------------------------------------------------------------

-- A reward whose caller and recipient both lack a phone claims no card and is recorded
-- 'no_phone' (delivery_status NULL) instead of waiting in 'pending' for an SMS that cannot
-- be queued.
ALTER TABLE call_conditions_met DROP CONSTRAINT call_conditions_met_reward_status_check;
ALTER TABLE call_conditions_met ADD CONSTRAINT call_conditions_met_reward_status_check
    CHECK (reward_status IN ('provisioned', 'pool_exhausted', 'no_reward_configured', 'no_phone'));
