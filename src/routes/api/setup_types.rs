//! Request and response bodies of setting up a campaign without SQL: campaigns, conditions
//! and rewards, gift-card pools and their cards.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::present;
use crate::app::gift_card_pools::CardsAdded;
use crate::db::campaign_setup::{ConditionSetup, RewardSetup};
use crate::db::gift_card_pools::PoolStock;

/// A campaign to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Spring roofing mailer", "mail_date": "2026-04-01"}))]
pub struct CreateCampaignRequest {
    /// The client the campaign is for; may be left out when the caller sees exactly one
    /// client (an API key's, an owner of one client), else `422` `client_required`. A client
    /// the caller cannot see is a `404`.
    pub client_id: Option<Uuid>,
    /// Trimmed; not blank; at most 200 characters (`422` `invalid_campaign`).
    #[schema(example = "Spring roofing mailer", max_length = 200)]
    pub name: String,
    /// When the mail piece drops.
    pub mail_date: Option<NaiveDate>,
    /// `draft` (the default), `ready`, `in_production`, `mailed`, `active` or `completed`
    /// (`422` otherwise).
    #[schema(example = "draft")]
    pub status: Option<String>,
}

/// A change to a campaign; a field left out (or `null`, for `name` and `status`) is left as it
/// is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "mailed", "recording_retention_days": 90}))]
pub struct UpdateCampaignRequest {
    /// Trimmed; not blank; at most 200 characters.
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub mail_date: Option<Option<NaiveDate>>,
    /// `draft`, `ready`, `in_production`, `mailed`, `active` or `completed` (`422` otherwise).
    pub status: Option<String>,
    /// Days the call recordings and voicemails are kept at Twilio, 1 to 36500 (`422`
    /// otherwise); `null` keeps them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub recording_retention_days: Option<Option<i32>>,
}

/// Condition N of a campaign, and its reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "condition_name": "Booked an appointment",
    "trigger_type": "call",
    "auto_min_talk_seconds": 90,
    "reward": {
        "gift_card_pool_id": "6f1c2a4e-2b7d-4c1e-9a57-0d3f5e8b9c21",
        "reward_description": "$25 Amazon gift card",
        "sms_template": "Hi {first_name}, your {brand} card worth ${value}: {card_code} PIN {pin_code}"
    }
}))]
pub struct PutConditionRequest {
    /// Trimmed; not blank; at most 200 characters.
    #[schema(max_length = 200)]
    pub condition_name: String,
    /// `call` (an agent marks it, or the call meets it after `auto_min_talk_seconds` of talk),
    /// `crm_event` (the CRM reports `crm_event_name`) or `time_delay` (`time_delay_hours` after
    /// the first answered call).
    #[schema(example = "call")]
    pub trigger_type: String,
    /// Required for `crm_event`, refused for the others.
    #[schema(max_length = 200)]
    pub crm_event_name: Option<String>,
    /// Required for `time_delay`, 1 to 87600; refused for the others.
    pub time_delay_hours: Option<i32>,
    /// Only for `call`, 0 to 86400: the call meets the condition itself after that much talk.
    pub auto_min_talk_seconds: Option<i32>,
    /// Default `true`.
    pub is_active: Option<bool>,
    /// Left out: the condition gives no reward, and a config it had is removed (`409`
    /// `reward_in_use` when met conditions already refer to it).
    pub reward: Option<PutRewardRequest>,
}

/// The reward a condition gives.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRewardRequest {
    /// A pool of the campaign's client (an admin may also use a master pool), else `422`
    /// `pool_not_usable`.
    pub gift_card_pool_id: Uuid,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub reward_description: Option<String>,
    /// The SMS: placeholders `{first_name}`, `{brand}`, `{value}`, `{card_code}` (required)
    /// and `{pin_code}`, at most 1600 characters; blank or left out uses the default.
    #[schema(max_length = 1600)]
    pub sms_template: Option<String>,
}

/// A condition with its trigger, rule and reward.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "3d0f5b8e-1c2a-4e7f-9b6d-5a4c3e2f1a0b", "condition_number": 1,
    "condition_name": "Booked an appointment", "trigger_type": "call",
    "crm_event_name": null, "time_delay_hours": null, "auto_min_talk_seconds": 90,
    "is_active": true,
    "reward": {
        "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
        "gift_card_pool_id": "6f1c2a4e-2b7d-4c1e-9a57-0d3f5e8b9c21",
        "pool_name": "Amazon $25", "brand_name": "Amazon", "value_amount": "25.00",
        "reward_description": "$25 Amazon gift card",
        "sms_template": "Hi {first_name}, your {brand} card worth ${value}: {card_code} PIN {pin_code}",
        "available_cards": 0, "total_cards": 200, "rewards_waiting": 4
    }
}))]
pub struct CampaignConditionOut {
    pub id: Uuid,
    pub condition_number: i32,
    pub condition_name: Option<String>,
    /// `call`, `crm_event` or `time_delay`.
    pub trigger_type: String,
    pub crm_event_name: Option<String>,
    pub time_delay_hours: Option<i32>,
    pub auto_min_talk_seconds: Option<i32>,
    pub is_active: bool,
    /// Null when the condition gives no reward.
    pub reward: Option<ConditionRewardOut>,
}

/// A condition's reward config and its pool's stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConditionRewardOut {
    /// The reward config's id.
    pub id: Uuid,
    pub gift_card_pool_id: Option<Uuid>,
    pub pool_name: Option<String>,
    pub brand_name: Option<String>,
    /// The pool's card value, e.g. `25.00`.
    #[schema(example = "25.00")]
    pub value_amount: Option<String>,
    pub reward_description: Option<String>,
    pub sms_template: Option<String>,
    pub available_cards: i32,
    pub total_cards: i32,
    /// Conditions met whose reward waits for a card of this pool.
    pub rewards_waiting: i64,
}

/// The campaign's conditions by number.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConditionSetupList {
    pub items: Vec<CampaignConditionOut>,
}

impl From<RewardSetup> for ConditionRewardOut {
    fn from(r: RewardSetup) -> Self {
        Self {
            id: r.id,
            gift_card_pool_id: r.gift_card_pool_id,
            pool_name: r.pool_name,
            brand_name: r.brand_name,
            value_amount: r.value_amount,
            reward_description: r.reward_description,
            sms_template: r.sms_template,
            available_cards: r.available_cards,
            total_cards: r.total_cards,
            rewards_waiting: r.rewards_waiting,
        }
    }
}

impl From<ConditionSetup> for CampaignConditionOut {
    fn from(c: ConditionSetup) -> Self {
        Self {
            id: c.id,
            condition_number: c.condition_number,
            condition_name: c.condition_name,
            trigger_type: c.trigger_type,
            crm_event_name: c.crm_event_name,
            time_delay_hours: c.time_delay_hours,
            auto_min_talk_seconds: c.auto_min_talk_seconds,
            is_active: c.is_active,
            reward: c.reward.map(Into::into),
        }
    }
}

/// A card value: a JSON number (`25`, `25.5`) or a string (`"25.00"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AmountIn {
    Number(serde_json::Number),
    Text(String),
}

impl AmountIn {
    /// The amount as text, as the card file writes it.
    pub fn as_text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.trim().to_owned(),
        }
    }
}

/// A gift-card pool to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"pool_name": "Amazon $25", "brand_name": "Amazon", "value_amount": "25.00"}))]
pub struct CreatePoolRequest {
    /// The client the pool is for; may be left out when the caller sees exactly one client.
    pub client_id: Option<Uuid>,
    /// Trimmed; not blank; at most 200 characters.
    #[schema(max_length = 200)]
    pub pool_name: String,
    /// Found by name, whatever its case, or created; at most 200 characters.
    #[schema(max_length = 200)]
    pub brand_name: String,
    /// The cards' value: more than zero, at most two decimals, as a number or a string
    /// (`422` otherwise).
    #[schema(value_type = String, example = "25.00")]
    pub value_amount: AmountIn,
}

/// A gift-card pool with its stock.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "6f1c2a4e-2b7d-4c1e-9a57-0d3f5e8b9c21",
    "client_id": "0b6c7d3e-5a41-4f7e-8d2c-1e9f3a5b7c90",
    "pool_name": "Amazon $25", "brand_name": "Amazon", "value_amount": "25.00",
    "available_cards": 118, "total_cards": 200, "rewards_waiting": 0,
    "created_at": "2026-03-02T15:04:05Z"
}))]
pub struct GiftCardPoolOut {
    pub id: Uuid,
    /// Null for an admin master pool.
    pub client_id: Option<Uuid>,
    pub pool_name: String,
    pub brand_name: Option<String>,
    #[schema(example = "25.00")]
    pub value_amount: Option<String>,
    pub available_cards: i32,
    pub total_cards: i32,
    /// Conditions met whose reward waits for a card of this pool.
    pub rewards_waiting: i64,
    pub created_at: DateTime<Utc>,
}

impl From<PoolStock> for GiftCardPoolOut {
    fn from(p: PoolStock) -> Self {
        Self {
            id: p.id,
            client_id: p.client_id,
            pool_name: p.pool_name,
            brand_name: p.brand_name,
            value_amount: p.value_amount,
            available_cards: p.available_cards,
            total_cards: p.total_cards,
            rewards_waiting: p.rewards_waiting,
            created_at: p.created_at,
        }
    }
}

/// The caller's pools.
#[derive(Debug, Serialize, ToSchema)]
pub struct GiftCardPoolList {
    pub items: Vec<GiftCardPoolOut>,
    /// Always null: every pool is on the one page.
    pub next_cursor: Option<String>,
}

/// A line of an uploaded file (recipients or cards) that wrote nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedLineOut {
    /// The line of the file, the header being line 1 (blank lines count; a quoted field with
    /// line breaks is counted from the line it starts on).
    pub line: u64,
    /// Why, in words; never the line's content.
    pub reason: String,
}

/// What loading cards did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "added": 199, "provisioned": 3, "available_cards": 196,
    "rejected": [{"line": 7, "reason": "duplicate card_code (first seen on line 3)"}]
}))]
pub struct CardsAddedOut {
    pub added: u64,
    pub rejected: Vec<RejectedLineOut>,
    /// Waiting rewards that took one of the new cards (their SMS are queued).
    pub provisioned: u64,
    /// The pool's available cards now.
    pub available_cards: i32,
}

impl From<CardsAdded> for CardsAddedOut {
    fn from(a: CardsAdded) -> Self {
        Self {
            added: a.added,
            rejected: a
                .rejected
                .into_iter()
                .map(|r| RejectedLineOut {
                    line: r.line,
                    reason: r.problem,
                })
                .collect(),
            provisioned: a.provisioned,
            available_cards: a.available_cards,
        }
    }
}
