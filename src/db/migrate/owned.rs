//! What calltrack needs of the platform's tables and what it adds to them when it adopts a
//! database whose platform tables already exist. One list serves both `migrate --check`
//! (what would be added, what is missing) and the adoption itself (what is added).

/// A platform table calltrack reads or writes, with the columns its statements name.
#[derive(Debug)]
pub struct PlatformTable {
    pub name: &'static str,
    pub columns: &'static [PlatformColumn],
    /// The columns calltrack's INSERTs fill; any other NOT NULL column without a default
    /// would make them fail. Empty when calltrack never inserts into the table.
    pub inserted: &'static [&'static str],
    /// Whether calltrack adds columns, indexes or triggers to it (so must own it).
    pub altered: bool,
}

/// A platform column calltrack's statements name, and how they use it.
#[derive(Debug)]
pub struct PlatformColumn {
    pub name: &'static str,
    pub kind: Kind,
    pub need: Need,
}

/// What calltrack needs of a platform column beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The column must exist: its meaning is the platform's, calltrack cannot stand in for it.
    Present,
    /// calltrack's inserts leave it to the column's default and read it back as set, so it
    /// must have one.
    Defaulted,
    /// A nullable column calltrack reads that the platform's schema document leaves out. A
    /// table without it gets it, with this definition: NULL in every existing row is what
    /// its absence meant (no row was ever soft-deleted).
    Supplied(&'static str),
}

/// The types calltrack's code can read and write a column as. `Row::get` panics on a type
/// the Rust side does not accept and a parameter of the wrong type fails the statement, so a
/// platform column of another type is refused before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Uuid,
    /// Read and written as a Rust string.
    Text,
    /// An enumeration: read through `::text`, written from literals or the
    /// `calltrack_as_*` functions, so a Postgres enum serves as well as text.
    Label,
    Integer,
    SmallInt,
    Boolean,
    Timestamptz,
    Date,
    Numeric,
    Jsonb,
    /// Only ever tested for NULL, which works on any type.
    Any,
}

impl Kind {
    /// Whether a column of the type named `typname` (as `pg_type` names it) with
    /// `is_enum` serves.
    pub fn accepts(self, typname: &str, is_enum: bool) -> bool {
        let text = matches!(typname, "text" | "varchar" | "bpchar" | "citext");
        match self {
            Self::Uuid => typname == "uuid",
            Self::Text => text,
            Self::Label => text || is_enum,
            Self::Integer => typname == "int4",
            Self::SmallInt => typname == "int2",
            Self::Boolean => typname == "bool",
            Self::Timestamptz => typname == "timestamptz",
            Self::Date => typname == "date",
            Self::Numeric => typname == "numeric",
            Self::Jsonb => typname == "jsonb",
            Self::Any => true,
        }
    }

    /// How the column is read, for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Uuid => "uuid",
            Self::Text => "text (text, varchar, char or citext)",
            Self::Label => "text or an enum",
            Self::Integer => "integer",
            Self::SmallInt => "smallint",
            Self::Boolean => "boolean",
            Self::Timestamptz => "timestamptz",
            Self::Date => "date",
            Self::Numeric => "numeric",
            Self::Jsonb => "jsonb",
            Self::Any => "any type",
        }
    }
}

const fn col(name: &'static str, kind: Kind) -> PlatformColumn {
    PlatformColumn {
        name,
        kind,
        need: Need::Present,
    }
}

const fn defaulted(name: &'static str, kind: Kind) -> PlatformColumn {
    PlatformColumn {
        name,
        kind,
        need: Need::Defaulted,
    }
}

const fn supplied(name: &'static str, kind: Kind, definition: &'static str) -> PlatformColumn {
    PlatformColumn {
        name,
        kind,
        need: Need::Supplied(definition),
    }
}

/// Columns whose platform type may be an enum or text with a CHECK constraint, with the
/// labels calltrack writes or compares against. A platform enum lacking one of them cannot
/// be adopted (comparing with a label an enum lacks is an error too).
#[derive(Debug)]
pub struct Enumerated {
    pub table: &'static str,
    pub column: &'static str,
    pub labels: &'static [&'static str],
    /// The labels calltrack writes, which a CHECK constraint on the column must allow.
    pub written: &'static [&'static str],
}

/// A column calltrack adds to a platform table.
#[derive(Debug)]
pub struct OwnedColumn {
    pub table: &'static str,
    pub name: &'static str,
    pub definition: &'static str,
    /// How calltrack reads it, checked when the platform already has a column of that name.
    pub kind: Kind,
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

use Kind::{Any, Boolean, Date, Integer, Jsonb, Label, Numeric, SmallInt, Text, Timestamptz, Uuid};

/// A soft delete, as the platform's practices put it: NULL while the row is live.
const SOFT_DELETE: &str = "timestamptz";

/// The platform's tables calltrack uses, with every column its SQL (`src/db`,
/// `migrations/adopt`) names and how the Rust side reads it. A test checks them against the
/// standalone schema V1 to V10 create (which calltrack's statements are written for).
pub const PLATFORM_TABLES: &[PlatformTable] = &[
    PlatformTable {
        name: "organizations",
        // Granted to calltrack_api, never read: clients.org_id is matched to org_members.
        columns: &[],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "clients",
        columns: &[
            col("id", Uuid),
            col("org_id", Uuid),
            col("name", Text),
            col("api_key_hash", Text),
        ],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "user_roles",
        columns: &[col("user_id", Uuid), col("role", Label)],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "org_members",
        columns: &[col("org_id", Uuid), col("user_id", Uuid)],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "client_users",
        columns: &[col("client_id", Uuid), col("user_id", Uuid)],
        inserted: &[],
        altered: false,
    },
    PlatformTable {
        name: "campaigns",
        columns: &[
            defaulted("id", Uuid),
            col("client_id", Uuid),
            col("name", Text),
            col("status", Label),
            col("mail_date", Date),
            col("created_by_user_id", Uuid),
            defaulted("created_at", Timestamptz),
            supplied("deleted_at", Any, SOFT_DELETE),
        ],
        // The setup API (`POST /api/v1/campaigns`).
        inserted: &[
            "client_id",
            "name",
            "mail_date",
            "status",
            "created_by_user_id",
        ],
        altered: false,
    },
    PlatformTable {
        name: "campaign_conditions",
        columns: &[
            defaulted("id", Uuid),
            col("campaign_id", Uuid),
            col("condition_number", Integer),
            col("condition_name", Text),
            col("trigger_type", Label),
            col("crm_event_name", Text),
            col("time_delay_hours", Integer),
            col("is_active", Boolean),
            defaulted("created_at", Timestamptz),
        ],
        // The setup API (`PUT /api/v1/campaigns/{id}/conditions/{n}`); auto_min_talk_seconds
        // is calltrack's own (V14).
        inserted: &[
            "campaign_id",
            "condition_number",
            "condition_name",
            "trigger_type",
            "crm_event_name",
            "time_delay_hours",
            "auto_min_talk_seconds",
            "is_active",
        ],
        altered: false,
    },
    PlatformTable {
        name: "campaign_reward_configs",
        columns: &[
            defaulted("id", Uuid),
            col("campaign_id", Uuid),
            col("condition_number", Integer),
            col("gift_card_pool_id", Uuid),
            col("reward_description", Text),
            col("sms_template", Text),
            defaulted("created_at", Timestamptz),
        ],
        inserted: &[
            "campaign_id",
            "condition_number",
            "gift_card_pool_id",
            "reward_description",
            "sms_template",
        ],
        altered: false,
    },
    PlatformTable {
        name: "recipients",
        columns: &[
            col("id", Uuid),
            col("campaign_id", Uuid),
            col("redemption_code", Text),
            col("first_name", Text),
            col("last_name", Text),
            col("email", Text),
            col("phone", Text),
            col("city", Text),
            col("state", Text),
            col("created_at", Timestamptz),
            supplied("deleted_at", Any, SOFT_DELETE),
        ],
        // The recipients import (`POST /api/v1/campaigns/{id}/recipients`).
        inserted: &[
            "campaign_id",
            "redemption_code",
            "first_name",
            "last_name",
            "phone",
        ],
        altered: true,
    },
    PlatformTable {
        name: "gift_card_brands",
        columns: &[
            defaulted("id", Uuid),
            col("brand_name", Text),
            col("default_value", Numeric),
            col("is_active", Boolean),
            defaulted("created_at", Timestamptz),
        ],
        // A brand named in `POST /api/v1/gift-card-pools` that does not exist yet.
        inserted: &["brand_name", "default_value", "is_active"],
        altered: false,
    },
    PlatformTable {
        name: "gift_card_pools",
        columns: &[
            defaulted("id", Uuid),
            col("client_id", Uuid),
            col("brand_id", Uuid),
            col("pool_name", Text),
            col("value_amount", Numeric),
            col("total_cards", Integer),
            col("available_cards", Integer),
            col("delivered_cards", Integer),
            defaulted("created_at", Timestamptz),
        ],
        inserted: &[
            "client_id",
            "brand_id",
            "pool_name",
            "value_amount",
            "total_cards",
            "available_cards",
            "delivered_cards",
        ],
        altered: false,
    },
    PlatformTable {
        name: "gift_cards",
        columns: &[
            defaulted("id", Uuid),
            col("pool_id", Uuid),
            col("card_code", Text),
            col("pin_code", Text),
            col("value_amount", Numeric),
            col("status", Label),
            col("recipient_id", Uuid),
            col("campaign_id", Uuid),
            col("claimed_at", Timestamptz),
            col("delivered_at", Timestamptz),
            col("delivery_method", Label),
            col("delivery_address", Text),
            col("created_at", Timestamptz),
        ],
        inserted: &["pool_id", "card_code", "pin_code", "value_amount", "status"],
        altered: true,
    },
    PlatformTable {
        name: "tracked_phone_numbers",
        columns: &[
            defaulted("id", Uuid),
            col("campaign_id", Uuid),
            col("phone_number", Text),
            col("forward_to_number", Text),
            col("provider", Label),
            col("provider_sid", Text),
            col("is_active", Boolean),
            defaulted("created_at", Timestamptz),
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
            defaulted("id", Uuid),
            col("campaign_id", Uuid),
            col("tracked_number_id", Uuid),
            col("recipient_id", Uuid),
            col("caller_phone", Text),
            col("match_status", Label),
            col("call_status", Label),
            col("call_started_at", Timestamptz),
            col("call_answered_at", Timestamptz),
            col("call_ended_at", Timestamptz),
            col("call_duration_seconds", Integer),
            col("recording_url", Text),
            col("recording_sid", Text),
            col("recording_duration", Integer),
            col("twilio_call_sid", Text),
            col("agent_user_id", Uuid),
            col("forward_to_number", Text),
            col("notes", Text),
            defaulted("created_at", Timestamptz),
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
            "twilio_call_sid",
            "forward_to_number",
            "screened",
            "caller_verstat",
        ],
        altered: true,
    },
    PlatformTable {
        name: "call_conditions_met",
        columns: &[
            defaulted("id", Uuid),
            col("call_session_id", Uuid),
            col("campaign_id", Uuid),
            col("recipient_id", Uuid),
            col("condition_number", Integer),
            col("met_at", Timestamptz),
            col("met_by_agent_id", Uuid),
            col("gift_card_id", Uuid),
            col("delivery_status", Label),
            col("notes", Text),
            col("created_at", Timestamptz),
        ],
        inserted: &[
            "call_session_id",
            "campaign_id",
            "recipient_id",
            "condition_number",
            "met_at",
            "met_by_agent_id",
            "notes",
            "delivery_status",
        ],
        altered: true,
    },
    PlatformTable {
        name: "events",
        columns: &[
            defaulted("id", Uuid),
            col("campaign_id", Uuid),
            col("recipient_id", Uuid),
            col("event_type", Label),
            col("event_data", Jsonb),
            col("created_at", Timestamptz),
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
        written: &[],
    },
    Enumerated {
        table: "call_sessions",
        column: "call_status",
        labels: &crate::domain::CallStatus::STORED,
        written: &crate::domain::CallStatus::STORED,
    },
    Enumerated {
        table: "call_sessions",
        column: "match_status",
        labels: &["matched", "unmatched"],
        written: &["matched", "unmatched"],
    },
    Enumerated {
        table: "call_conditions_met",
        column: "delivery_status",
        labels: &["pending", "sent", "delivered", "failed"],
        written: &["pending", "sent", "delivered", "failed"],
    },
    Enumerated {
        table: "gift_cards",
        column: "status",
        labels: &["available", "claimed", "delivered", "redeemed"],
        written: &["available", "claimed", "delivered"],
    },
    Enumerated {
        table: "gift_cards",
        column: "delivery_method",
        labels: &["sms"],
        written: &["sms"],
    },
    Enumerated {
        table: "events",
        column: "event_type",
        labels: &["call"],
        written: &["call"],
    },
    Enumerated {
        table: "campaigns",
        column: "status",
        labels: &crate::domain::campaign_setup::CAMPAIGN_STATUSES,
        written: &crate::domain::campaign_setup::CAMPAIGN_STATUSES,
    },
    Enumerated {
        table: "campaign_conditions",
        column: "trigger_type",
        labels: &["call", "crm_event", "time_delay"],
        written: &["call", "crm_event", "time_delay"],
    },
    Enumerated {
        table: "tracked_phone_numbers",
        column: "provider",
        labels: &["twilio"],
        written: &["twilio"],
    },
];

pub const OWNED_COLUMNS: &[OwnedColumn] = &[
    OwnedColumn {
        table: "recipients",
        name: "phone_e164",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "status_rank",
        definition: "smallint NOT NULL DEFAULT 0",
        kind: SmallInt,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "talk_seconds",
        definition: "integer",
        kind: Integer,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        kind: Timestamptz,
        touched: true,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "recording_status",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "call_outcome",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "leg_status",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "screened",
        definition: "boolean NOT NULL DEFAULT false",
        kind: Boolean,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "caller_verstat",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_sid",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_url",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_sessions",
        name: "voicemail_duration",
        definition: "integer",
        kind: Integer,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        kind: Timestamptz,
        touched: true,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "released_at",
        definition: "timestamptz",
        kind: Timestamptz,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "friendly_name",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "whisper",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "require_keypress",
        definition: "boolean",
        kind: Boolean,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "voicemail",
        definition: "boolean NOT NULL DEFAULT true",
        kind: Boolean,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "voicemail_greeting",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "tracked_phone_numbers",
        name: "business_hours",
        definition: "jsonb",
        kind: Jsonb,
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "reward_status",
        definition: "text NOT NULL DEFAULT 'no_reward_configured'",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "reward_config_id",
        definition: "uuid",
        kind: Uuid,
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "delivery_error_code",
        definition: "integer",
        kind: Integer,
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "delivery_error_message",
        definition: "text",
        kind: Text,
        touched: false,
    },
    OwnedColumn {
        table: "call_conditions_met",
        name: "updated_at",
        definition: "timestamptz NOT NULL DEFAULT now()",
        kind: Timestamptz,
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
    fn a_label_may_be_text_or_an_enum_while_text_and_numbers_take_their_own_types_only() {
        assert!(Label.accepts("app_role", true) && Label.accepts("varchar", false));
        assert!(!Text.accepts("app_role", true));
        assert!(Text.accepts("citext", false) && Text.accepts("bpchar", false));
        assert!(!Integer.accepts("int8", false) && !Integer.accepts("numeric", false));
        assert!(!Timestamptz.accepts("timestamp", false));
        assert!(!Uuid.accepts("text", false) && !Jsonb.accepts("json", false));
        assert!(Any.accepts("timestamp", false));
    }

    #[test]
    fn supplied_columns_are_nullable_and_added_without_rewriting_the_table() {
        let supplied = PLATFORM_TABLES
            .iter()
            .flat_map(|t| t.columns)
            .filter_map(|c| match c.need {
                Need::Supplied(definition) => Some(definition),
                _ => None,
            });
        for definition in supplied {
            let upper = definition.to_uppercase();
            assert!(
                !upper.contains("NOT NULL") && !upper.contains("DEFAULT"),
                "{definition}"
            );
        }
    }

    #[test]
    fn each_owned_columns_kind_is_the_type_it_is_created_with() {
        for c in OWNED_COLUMNS {
            let created = match c.definition.split_whitespace().next() {
                Some("text") => Text,
                Some("smallint") => SmallInt,
                Some("integer") => Integer,
                Some("boolean") => Boolean,
                Some("timestamptz") => Timestamptz,
                Some("jsonb") => Jsonb,
                Some("uuid") => Uuid,
                other => panic!("{}.{}: {other:?}", c.table, c.name),
            };
            assert_eq!(c.kind, created, "{}.{}", c.table, c.name);
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
