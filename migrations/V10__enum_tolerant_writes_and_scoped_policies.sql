-- The first migration that runs on both kinds of database: one calltrack created
-- (standalone) and one whose platform tables it adopted (see src/db/migrate/adopt.rs).
-- From here on every migration must work on both.

-- Writing an enumerated platform column from a text value. On the platform these columns may
-- be Postgres enums, and PostgreSQL casts text to an enum only explicitly, so a statement
-- writing `$1::text` or a CASE of labels into one fails there. calltrack's statements write
-- through these functions instead; each returns the column's own type, whatever it is here
-- (text standalone, the platform's enum after adoption). A platform that later changes such a
-- column's type must run a migration that recreates them.
DO $$
DECLARE
    c record;
    col_type text;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('calltrack_as_call_status', 'call_sessions', 'call_status'),
        ('calltrack_as_match_status', 'call_sessions', 'match_status'),
        ('calltrack_as_delivery_status', 'call_conditions_met', 'delivery_status'),
        ('calltrack_as_gift_card_status', 'gift_cards', 'status')
    ) AS v (fn, tbl, col) LOOP
        SELECT format_type(a.atttypid, a.atttypmod) INTO STRICT col_type
        FROM pg_attribute a
        WHERE a.attrelid = c.tbl::regclass AND a.attname = c.col AND NOT a.attisdropped;
        EXECUTE format('CREATE OR REPLACE FUNCTION %I(v text) RETURNS %s '
                       'LANGUAGE sql STABLE PARALLEL SAFE AS %L',
                       c.fn, col_type, format('SELECT v::%s', col_type));
    END LOOP;
END
$$;

-- Standalone, V3 and V6 wrote calltrack's policies for every role (no TO clause). A policy
-- for PUBLIC widens what any other role of the database may see, so they now apply to
-- calltrack_api alone, as the adopted ones always have.
DO $$
DECLARE
    p record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class
               WHERE relname = 'calltrack_adoption'
                 AND relnamespace = current_schema()::regnamespace) THEN
        RETURN;
    END IF;
    FOR p IN SELECT tablename, policyname FROM pg_policies
             WHERE schemaname = current_schema()
               AND policyname IN ('clients_visible', 'campaigns_visible', 'recipients_visible',
                   'tracked_phone_numbers_visible', 'call_sessions_visible',
                   'call_conditions_met_visible', 'gift_cards_visible',
                   'gift_card_pools_visible', 'campaign_reward_configs_visible',
                   'campaign_conditions_visible', 'sms_outbox_visible') LOOP
        EXECUTE format('ALTER POLICY %I ON %I TO calltrack_api', p.policyname, p.tablename);
    END LOOP;
END
$$;
