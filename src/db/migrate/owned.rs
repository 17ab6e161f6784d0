//! What calltrack needs of the platform's tables and what it adds to them when it adopts a
//! database whose platform tables already exist. One list serves both `migrate --check`
//! (what would be added, what is missing) and the adoption itself (what is added).

/// A platform table calltrack reads or writes, with the columns its statements name.
#[derive(Debug)]
pub struct PlatformTable {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// The columns calltrack's INSERTs fill; any other NOT NULL column without a default
    /// would make them fail. Empty when calltrack never inserts into the table.
    pub inserted: &'static [&'static str],
    /// Whether calltrack adds columns, indexes or triggers to it (so must own it).
    pub altered: bool,
}

/// Columns whose platform type may be an enum, with the labels calltrack writes or
/// compares against. A platform enum lacking one of them cannot be adopted.
#[derive(Debug)]
pub struct Enumerated {
    pub table: &'static str,
    pub column: &'static str,
    pub labels: &'static [&'static str],
}

/// A column calltrack adds to a platform table.
#[derive(Debug)]
pub struct OwnedColumn {
    pub table: &'static str,
    pub name: &'static str,
    pub definition: &'static str,
    /// `updated_at` columns get calltrack's touch trigger, but only when calltrack adds
    /// them: a platform column of that name is the platform's to maintain.
    pub touched: bool,
}

/// A constraint on calltrack's own columns. Added `NOT VALID` inside the adoption's
/// transaction (instant) and validated afterwards, which reads the table without blocking
/// its writers.
#[derive(Debug)]
pub struct OwnedConstraint {
    pub table: &'static str,
    pub name: &'static str,
    pub definition: &'static str,
}

/// An index calltrack builds on a platform table, `CONCURRENTLY`, outside any transaction.
#[derive(Debug)]
pub struct OwnedIndex {
    pub name: &'static str,
    pub table: &'static str,
    /// For a unique index: an existing valid unique index on exactly these columns serves
    /// as well, so none is built.
    pub unique_on: Option<&'static [&'static str]>,
    pub definition: &'static str,
    /// For a unique index: counts the groups of rows that would violate it, which
    /// `migrate --check` reports before anything is built.
    pub duplicates: Option<&'static str>,
}

pub const PLATFORM_TABLES: &[PlatformTable] = &[
    PlatformTable {
        name: "organizations",
        columns: &["id"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "clients",
        columns: &["id", "org_id", "name", "api_key_hash"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "user_roles",
        columns: &["user_id", "role"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "org_members",
        columns: &["org_id", "user_id"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "client_users",
        columns: &["client_id", "user_id"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "campaigns",
        columns: &[
            "id",
            "client_id",
            "name",
            "status",
            "mail_date",
            "created_at",
            "deleted_at",
        ],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "campaign_conditions",
        columns: &[
            "id",
            "campaign_id",
            "condition_number",
            "condition_name",
            "trigger_type",
            "is_active",
        ],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "campaign_reward_configs",
        columns: &[
            "id",
            "campaign_id",
            "condition_number",
            "gift_card_pool_id",
            "reward_description",
            "sms_template",
        ],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "recipients",
        columns: &[
            "id",
            "campaign_id",
            "redemption_code",
            "first_name",
            "last_name",
            "phone",
            "created_at",
            "deleted_at",
        ],
        inserted: &[],
        altered: true,
    },
    PlatformTable {
        name: "gift_card_brands",
        columns: &["id", "brand_name"],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "gift_card_pools",
        columns: &[
            "id",
            "client_id",
            "brand_id",
            "pool_name",
            "value_amount",
            "total_cards",
            "available_cards",
            "delivered_cards",
        ],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "gift_cards",
        columns: &[
            "id",
            "pool_id",
            "card_code",
            "pin_code",
            "value_amount",
            "status",
            "recipient_id",
            "campaign_id",
            "claimed_at",
            "delivered_at",
            "delivery_method",
            "delivery_address",
            "created_at",
        ],
        inserted: &["pool_id", "card_code", "pin_code", "value_amount", "status"],
        altered: true,
    },
    PlatformTable {
        name: "tracked_phone_numbers",
        columns: &[
            "id",
            "campaign_id",
            "phone_number",
            "forward_to_number",
            "provider",
            "provider_sid",
            "is_active",
            "created_at",
        ],
        inserted: &[
            "campaign_id",
            "phone_number",
            "forward_to_number",
            "provider",
            "provider_sid",
            "friendly_name",
            "is_active",
        ],
        altered: true,
    },
    PlatformTable {
        name: "call_sessions",
        columns: &[
            "id",
            "campaign_id",
            "tracked_number_id",
            "recipient_id",
            "caller_phone",
            "match_status",
            "call_status",
            "call_started_at",
            "call_answered_at",
            "call_ended_at",
            "call_duration_seconds",
            "recording_url",
            "recording_sid",
            "recording_duration",
            "twilio_call_sid",
            "agent_user_id",
            "forward_to_number",
            "notes",
            "created_at",
        ],
        inserted: &[
            "campaign_id",
            "tracked_number_id",
            "recipient_id",
            "caller_phone",
            "match_status",
            "call_status",
            "status_rank",
            "call_started_at",
            "call_answered_at",
            "call_ended_at",
            "call_duration_seconds",
            "twilio_call_sid",
            "forward_to_number",
            "screened",
            "caller_verstat",
            "created_at",
        ],
        altered: true,
    },
    PlatformTable {
        name: "call_conditions_met",
        columns: &[
            "id",
            "call_session_id",
            "campaign_id",
            "recipient_id",
            "condition_number",
            "met_at",
            "met_by_agent_id",
            "gift_card_id",
            "delivery_status",
            "notes",
            "created_at",
        ],
        inserted: &[
            "call_session_id",
            "campaign_id",
            "recipient_id",
            "condition_number",
            "met_by_agent_id",
            "notes",
            "delivery_status",
        ],
        altered: true,
    },
    PlatformTable {
        name: "events",
        columns: &[
            "campaign_id",
            "recipient_id",
            "event_type",
            "event_data",
            "created_at",
        ],
        inserted: &[
            "campaign_id",
            "recipient_id",
            "event_type",
            "event_data",
            "created_at",
        ],
        altered: false,
    },
];

pub const ENUMERATED: &[Enumerated] = &[
    Enumerated {
        table: "user_roles",
        column: "role",
        labels: &[
            "admin",
            "tech_support",
            "agency_owner",
            "company_owner",
            "developer",
            "call_center",
        ],
    },
    Enumerated {
        table: "call_sessions",
        column: "call_status",
        labels: &crate::domain::CallStatus::STORED,
    },
    Enumerated {
        table: "call_sessions",
        column: "match_status",
        labels: &["matched", "unmatched"],
    },
    Enumerated {
        table: "call_conditions_met",
        column: "delivery_status",
        labels: &["pending", "sent", "delivered", "failed"],
    },
    Enumerated {
        table: "gift_cards",
        column: "status",
        labels: &["available", "claimed", "delivered", "redeemed"],
    },
    Enumerated {
        table: "gift_cards",
        column: "delivery_method",
        labels: &["sms"],
    },
    Enumerated {
        table: "events",
        column: "event_type",
        labels: &["call"],
    },
    Enumerated {
        table: "tracked_phone_numbers",
        column: "provider",
        labels: &["twilio"],
    },
];

pub const OWNED_COLUMNS: &[OwnedColumn] = &[
    OwnedColumn {
        table: "recipients",
        name: "phone_e164",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "status_rank",
        definition: "smallint NOT NULL DEFAULT 0",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "talk_seconds",
        definition: "integer",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        touched: true,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "recording_status",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "call_outcome",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "leg_status",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "screened",
        definition: "boolean NOT NULL DEFAULT false",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "caller_verstat",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_sid",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_url",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_duration",
        definition: "integer",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        touched: true,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "released_at",
        definition: "timestamptz",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "friendly_name",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "whisper",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "require_keypress",
        definition: "boolean",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "voicemail",
        definition: "boolean NOT NULL DEFAULT true",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "voicemail_greeting",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "business_hours",
        definition: "jsonb",
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "reward_status",
        definition: "text NOT NULL DEFAULT 'no_reward_configured'",
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "reward_config_id",
        definition: "uuid",
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "delivery_error_code",
        definition: "integer",
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "delivery_error_message",
        definition: "text",
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        touched: true,
    },
];

pub const OWNED_CONSTRAINTS: &[OwnedConstraint] = &[
    OwnedConstraint {
        table: "call_sessions",
        name: "calltrack_status_rank_check",
        definition: "CHECK (status_rank BETWEEN 0 AND 4)",
    },
    OwnedConstraint {
        table: "call_sessions",
        name: "calltrack_call_outcome_check",
        definition: "CHECK (call_outcome IN ('answered', 'missed', 'voicemail', 'abandoned'))",
    },
    OwnedConstraint {
        table: "call_sessions",
        name: "calltrack_leg_status_check",
        definition: "CHECK (leg_status IN ('initiated', 'ringing', 'in-progress', 'completed', \
                     'busy', 'no-answer', 'failed', 'canceled'))",
    },
    OwnedConstraint {
        table: "call_conditions_met",
        name: "calltrack_reward_status_check",
        definition: "CHECK (reward_status IN ('provisioned', 'pool_exhausted', \
                     'no_reward_configured', 'no_phone'))",
    },
    OwnedConstraint {
        table: "call_conditions_met",
        name: "calltrack_reward_config_id_fkey",
        definition: "FOREIGN KEY (reward_config_id) REFERENCES campaign_reward_configs (id)",
    },
];

pub const OWNED_INDEXES: &[OwnedIndex] = &[
    OwnedIndex {
        name: "calltrack_call_sessions_call_sid_key",
        table: "call_sessions",
        unique_on: Some(&["twilio_call_sid"]),
        definition: "UNIQUE INDEX CONCURRENTLY calltrack_call_sessions_call_sid_key \
                     ON call_sessions (twilio_call_sid)",
        duplicates: Some(
            "SELECT count(*) FROM (SELECT 1 FROM call_sessions WHERE twilio_call_sid IS NOT NULL GROUP BY twilio_call_sid HAVING count(*) > 1) d",
        ),
    },
    OwnedIndex {
        name: "calltrack_tracked_numbers_active_key",
        table: "tracked_phone_numbers",
        unique_on: None,
        definition: "UNIQUE INDEX CONCURRENTLY calltrack_tracked_numbers_active_key \
                     ON tracked_phone_numbers (phone_number) WHERE is_active",
        duplicates: Some(
            "SELECT count(*) FROM (SELECT 1 FROM tracked_phone_numbers WHERE is_active GROUP BY phone_number HAVING count(*) > 1) d",
        ),
    },
    OwnedIndex {
        name: "calltrack_conditions_met_recipient_condition_key",
        table: "call_conditions_met",
        unique_on: Some(&["recipient_id", "condition_number"]),
        definition: "UNIQUE INDEX CONCURRENTLY calltrack_conditions_met_recipient_condition_key \
                     ON call_conditions_met (recipient_id, condition_number)",
        duplicates: Some(
            "SELECT count(*) FROM (SELECT 1 FROM call_conditions_met GROUP BY recipient_id, condition_number HAVING count(*) > 1) d",
        ),
    },
    OwnedIndex {
        name: "calltrack_conditions_met_gift_card_key",
        table: "call_conditions_met",
        unique_on: Some(&["gift_card_id"]),
        definition: "UNIQUE INDEX CONCURRENTLY calltrack_conditions_met_gift_card_key \
                     ON call_conditions_met (gift_card_id)",
        duplicates: Some(
            "SELECT count(*) FROM (SELECT 1 FROM call_conditions_met WHERE gift_card_id IS NOT NULL GROUP BY gift_card_id HAVING count(*) > 1) d",
        ),
    },
    OwnedIndex {
        name: "calltrack_recipients_campaign_phone_idx",
        table: "recipients",
        unique_on: None,
        definition: "INDEX CONCURRENTLY calltrack_recipients_campaign_phone_idx \
                     ON recipients (campaign_id, phone_e164)",
        duplicates: None,
    },
    OwnedIndex {
        name: "calltrack_call_sessions_stats_idx",
        table: "call_sessions",
        unique_on: None,
        definition: "INDEX CONCURRENTLY calltrack_call_sessions_stats_idx \
                     ON call_sessions (campaign_id, created_at DESC) \
                     INCLUDE (caller_phone, match_status, call_status, call_outcome, \
                     call_answered_at, talk_seconds, recording_sid)",
        duplicates: None,
    },
    OwnedIndex {
        name: "calltrack_call_sessions_created_at_idx",
        table: "call_sessions",
        unique_on: None,
        definition: "INDEX CONCURRENTLY calltrack_call_sessions_created_at_idx \
                     ON call_sessions (created_at DESC, id DESC)",
        duplicates: None,
    },
    OwnedIndex {
        name: "calltrack_gift_cards_available_idx",
        table: "gift_cards",
        unique_on: None,
        definition: "INDEX CONCURRENTLY calltrack_gift_cards_available_idx \
                     ON gift_cards (pool_id, created_at) WHERE status = 'available'",
        duplicates: None,
    },
    OwnedIndex {
        name: "calltrack_conditions_met_waiting_idx",
        table: "call_conditions_met",
        unique_on: None,
        definition: "INDEX CONCURRENTLY calltrack_conditions_met_waiting_idx \
                     ON call_conditions_met (reward_config_id, met_at) \
                     WHERE reward_status = 'pool_exhausted'",
        duplicates: None,
    },
];

/// calltrack's own tables (created by `migrations/adopt/tables.sql`).
pub const OWNED_TABLES: &[&str] = &[
    "calltrack_adoption",
    "sms_outbox",
    "audit_log",
    "number_releases_pending",
    "sms_status_parked",
    "spool_applied",
    "call_callbacks_parked",
    "calltrack_routing_version",
    "reconcile_runs",
];

/// calltrack's functions, triggers and policies (created by `migrations/adopt/functions.sql`),
/// named for the plan.
pub const OWNED_ROUTINES: &[&str] = &[
    "functions calltrack_phone_e164, calltrack_status_rank, calltrack_call_outcome, \
     calltrack_client_visible, calltrack_campaign_visible and their trigger functions",
    "triggers calltrack_call_sessions_settle_call_outcome (call_sessions), \
     calltrack_tracked_phone_numbers_routing_version (tracked_phone_numbers)",
    "role calltrack_api (NOLOGIN), granted to the migrating role",
    "policies calltrack_<table>_visible TO calltrack_api on clients, campaigns, recipients, \
     tracked_phone_numbers, call_sessions, call_conditions_met, gift_card_pools, \
     campaign_reward_configs, campaign_conditions, gift_cards and sms_outbox",
];

pub const TABLES_SQL: &str = include_str!("../../../migrations/adopt/tables.sql");
pub const FUNCTIONS_SQL: &str = include_str!("../../../migrations/adopt/functions.sql");

/// The standalone migration the adoption stands in for: versions up to it are recorded as
/// adopted, later ones apply as usual and so must work on both kinds of database.
pub const BASELINE: i32 = 9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owned_table_is_created_by_the_adoption_sql() {
        for table in OWNED_TABLES {
            assert!(
                TABLES_SQL.contains(&format!("CREATE TABLE IF NOT EXISTS {table} (")),
                "{table} is not in migrations/adopt/tables.sql"
            );
            assert!(
                FUNCTIONS_SQL.contains(&format!("'{table}'")),
                "{table} keeps its grants"
            );
        }
    }

    #[test]
    fn owned_columns_and_indexes_touch_only_known_platform_tables() {
        let known = |t: &str| PLATFORM_TABLES.iter().any(|p| p.name == t && p.altered);
        for c in OWNED_COLUMNS {
            assert!(known(c.table), "{}.{}", c.table, c.name);
        }
        for i in OWNED_INDEXES {
            assert!(known(i.table), "{}", i.name);
            assert!(i.definition.contains(i.name) && i.definition.contains("CONCURRENTLY"));
        }
        for c in OWNED_CONSTRAINTS {
            assert!(known(c.table), "{}", c.name);
        }
    }
}
