-- Row security evaluated once per statement, not once per row.
--
-- Until now every policy on a campaign's rows called calltrack_campaign_visible(campaign_id),
-- whose body holds a sub-select: PostgreSQL cannot inline such a function and ran it for each
-- row it read (seconds for a large campaign; docs/PERFORMANCE.md). Each policy now compares the
-- row with sets computed once per statement: the all-clients test is a scalar sub-select (an
-- InitPlan, and when it is true nothing else is evaluated), and the visible ids are an
-- uncorrelated IN sub-select, which PostgreSQL hashes once and probes per row. A hash rather
-- than `= ANY (array)`: an array is searched element by element, so an agency owner with
-- hundreds of campaigns would pay hundreds of comparisons a row again.
--
-- Visibility is the same as before: all clients, or the rows whose campaign (pool, client)
-- belongs to one of calltrack.client_ids. Runs on standalone and adopted databases alike and
-- alters calltrack's own policies only (TO calltrack_api since V10); the platform's are not
-- touched.

-- Whether the transaction sees every client (admin, tech support).
CREATE OR REPLACE FUNCTION calltrack_all_clients() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(current_setting('calltrack.all_clients', true), '') = 'on';

-- The clients the transaction sees when it does not see them all; empty when none.
CREATE OR REPLACE FUNCTION calltrack_client_ids() RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(
    string_to_array(nullif(current_setting('calltrack.client_ids', true), ''), ',')::uuid[],
    '{}');

-- The campaigns of calltrack_client_ids(). Not every campaign under the all-clients scope:
-- the policies test calltrack_all_clients() first. PL/pgSQL keeps the plan of its query for
-- the connection's life, where an SQL function's body would be planned again at each call
-- site of each statement; the planner calls it too, to estimate how many ids there are, so a
-- scope without client ids (admins) returns at once. The client ids are compared through a
-- sub-select: run as calltrack_api, under the campaigns policy, `client_id = ANY
-- (calltrack_client_ids())` would be a filter that parses the setting again for every row.
CREATE OR REPLACE FUNCTION calltrack_visible_campaign_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF cardinality(calltrack_client_ids()) = 0 THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT c.id FROM campaigns c
                 WHERE c.client_id IN (SELECT unnest(calltrack_client_ids())));
END
$$;

-- The gift-card pools of calltrack_client_ids(); a master pool (no client) is in none.
CREATE OR REPLACE FUNCTION calltrack_visible_pool_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF cardinality(calltrack_client_ids()) = 0 THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT p.id FROM gift_card_pools p
                 WHERE p.client_id IN (SELECT unnest(calltrack_client_ids())));
END
$$;

-- The per-row functions stay for anything outside calltrack that may call them, but no
-- policy of calltrack's uses them any more (a test reads pg_policies).
COMMENT ON FUNCTION calltrack_campaign_visible(uuid) IS
    'Deprecated: runs a sub-select per row. Policies use calltrack_visible_campaign_ids().';
COMMENT ON FUNCTION calltrack_client_visible(uuid) IS
    'Deprecated: evaluated per row. Policies use calltrack_client_ids().';

DO $$
DECLARE
    p record;
    adopted boolean := EXISTS (SELECT 1 FROM pg_class
                               WHERE relname = 'calltrack_adoption'
                                 AND relnamespace = current_schema()::regnamespace);
    policy text;
    rule text;
BEGIN
    FOR p IN SELECT * FROM (VALUES
        ('clients', 'id IN (SELECT unnest(calltrack_client_ids()))'),
        ('campaigns', 'client_id IN (SELECT unnest(calltrack_client_ids()))'),
        ('gift_card_pools', 'client_id IN (SELECT unnest(calltrack_client_ids()))'),
        ('recipients', 'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('tracked_phone_numbers',
            'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('call_sessions', 'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('call_conditions_met',
            'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('campaign_reward_configs',
            'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('campaign_conditions',
            'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        ('gift_cards', 'pool_id IN (SELECT unnest(calltrack_visible_pool_ids()))'
            || ' OR campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))'),
        -- The sub-select reads call_conditions_met under that table's own policy, as before.
        ('sms_outbox', 'condition_met_id IN (SELECT m.id FROM call_conditions_met m'
            || ' WHERE m.campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids())))')
    ) AS v (tbl, visible) LOOP
        -- Standalone policies kept V3's names; the adoption prefixed them with calltrack_.
        policy := CASE WHEN adopted THEN 'calltrack_' || p.tbl || '_visible'
                       ELSE p.tbl || '_visible' END;
        rule := format('(SELECT calltrack_all_clients()) OR %s', p.visible);
        IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
                   AND tablename = p.tbl AND policyname = policy) THEN
            EXECUTE format('ALTER POLICY %I ON %I TO calltrack_api USING (%s)',
                policy, p.tbl, rule);
        ELSE
            EXECUTE format('CREATE POLICY %I ON %I TO calltrack_api USING (%s)',
                policy, p.tbl, rule);
        END IF;
    END LOOP;
    -- The statistics rollups (V11) are calltrack's own tables, their policies named alike on
    -- both kinds of database.
    FOREACH policy IN ARRAY ARRAY['campaign_call_hours', 'campaign_call_totals',
        'campaign_call_changes', 'campaign_callers', 'campaign_condition_hours',
        'campaign_condition_totals', 'campaign_condition_changes', 'calltrack_rollup_fill'] LOOP
        EXECUTE format('ALTER POLICY %I ON %I TO calltrack_api USING (%s)',
            policy || '_visible', policy,
            '(SELECT calltrack_all_clients()) OR '
            || 'campaign_id IN (SELECT unnest(calltrack_visible_campaign_ids()))');
    END LOOP;
END
$$;
