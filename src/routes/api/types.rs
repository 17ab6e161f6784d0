//! The JSON API's own types: what clients send and receive, with enums wherever a value is
//! one of a few. Rows, which carry the domain's enums, map into them with `From`; a stored
//! value the domain has no name for failed already where the row was read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::conditions::MarkOutcome;
use crate::app::crm_events::CrmEventOutcome;
use crate::app::numbers::TrackedNumber;
use crate::app::sessions::SessionDetail;
use crate::app::sessions::{CallSession, Condition, ConditionMet, Recipient, RewardStatus};
use crate::app::stats::{CallStats, CampaignSummary, SeriesPoint};
use crate::domain;
use crate::routes::error::ApiError;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        // Every wire name here is the kebab-case of its variant, and the value the database
        // stores: a unit test holds them to it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            #[cfg(test)]
            const ALL: &'static [Self] = &[$(Self::$variant),+];
        }
    };
}

wire_enum!(
    /// Where the call is: `initiated` → `ringing` → `in-progress` → one of the ends.
    CallStatus {
        Initiated,
        Ringing,
        InProgress,
        Completed,
        Busy,
        NoAnswer,
        Failed,
        Canceled,
    }
);

wire_enum!(
    /// What happened for the business: a person `answered`; the business `missed` it; the
    /// caller left a `voicemail`; the caller hung up first (`abandoned`). Null while live.
    CallOutcome {
        Answered,
        Missed,
        Voicemail,
        Abandoned,
    }
);

wire_enum!(
    /// Whether the caller was matched to a recipient of the campaign.
    MatchStatus {
        Matched,
        Unmatched,
    }
);

wire_enum!(
    /// The reward SMS: queued (`pending`), accepted by Twilio (`sent`), `delivered`, `failed`.
    DeliveryStatus {
        Pending,
        Sent,
        Delivered,
        Failed,
    }
);

impl From<domain::CallStatus> for CallStatus {
    fn from(status: domain::CallStatus) -> Self {
        match status {
            // Stored as `initiated`: the platform's schema has no queued state.
            domain::CallStatus::Queued | domain::CallStatus::Initiated => Self::Initiated,
            domain::CallStatus::Ringing => Self::Ringing,
            domain::CallStatus::InProgress => Self::InProgress,
            domain::CallStatus::Completed => Self::Completed,
            domain::CallStatus::Busy => Self::Busy,
            domain::CallStatus::NoAnswer => Self::NoAnswer,
            domain::CallStatus::Failed => Self::Failed,
            domain::CallStatus::Canceled => Self::Canceled,
        }
    }
}

impl From<CallStatus> for domain::CallStatus {
    fn from(status: CallStatus) -> Self {
        match status {
            CallStatus::Initiated => Self::Initiated,
            CallStatus::Ringing => Self::Ringing,
            CallStatus::InProgress => Self::InProgress,
            CallStatus::Completed => Self::Completed,
            CallStatus::Busy => Self::Busy,
            CallStatus::NoAnswer => Self::NoAnswer,
            CallStatus::Failed => Self::Failed,
            CallStatus::Canceled => Self::Canceled,
        }
    }
}

impl From<domain::CallOutcome> for CallOutcome {
    fn from(outcome: domain::CallOutcome) -> Self {
        match outcome {
            domain::CallOutcome::Answered => Self::Answered,
            domain::CallOutcome::Missed => Self::Missed,
            domain::CallOutcome::Voicemail => Self::Voicemail,
            domain::CallOutcome::Abandoned => Self::Abandoned,
        }
    }
}

impl From<CallOutcome> for domain::CallOutcome {
    fn from(outcome: CallOutcome) -> Self {
        match outcome {
            CallOutcome::Answered => Self::Answered,
            CallOutcome::Missed => Self::Missed,
            CallOutcome::Voicemail => Self::Voicemail,
            CallOutcome::Abandoned => Self::Abandoned,
        }
    }
}

impl From<domain::MatchStatus> for MatchStatus {
    fn from(status: domain::MatchStatus) -> Self {
        match status {
            domain::MatchStatus::Matched => Self::Matched,
            domain::MatchStatus::Unmatched => Self::Unmatched,
        }
    }
}

impl From<MatchStatus> for domain::MatchStatus {
    fn from(status: MatchStatus) -> Self {
        match status {
            MatchStatus::Matched => Self::Matched,
            MatchStatus::Unmatched => Self::Unmatched,
        }
    }
}

impl From<domain::DeliveryStatus> for DeliveryStatus {
    fn from(status: domain::DeliveryStatus) -> Self {
        match status {
            domain::DeliveryStatus::Pending => Self::Pending,
            domain::DeliveryStatus::Sent => Self::Sent,
            domain::DeliveryStatus::Delivered => Self::Delivered,
            domain::DeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// What became of a met condition's reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardState {
    /// A card was claimed for the recipient and its SMS queued.
    Provisioned,
    /// The pool had no card; one is provisioned when cards are imported.
    PoolExhausted,
    /// The campaign has no reward for this condition.
    NoRewardConfigured,
    /// Neither the recipient nor the caller has a phone to text the card to; no card was
    /// claimed.
    NoPhone,
}

impl From<RewardStatus> for RewardState {
    fn from(status: RewardStatus) -> Self {
        match status {
            RewardStatus::Provisioned => Self::Provisioned,
            RewardStatus::PoolExhausted => Self::PoolExhausted,
            RewardStatus::NoRewardConfigured => Self::NoRewardConfigured,
            RewardStatus::NoPhone => Self::NoPhone,
        }
    }
}

/// One call session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallSessionOut {
    pub id: Uuid,
    pub campaign_id: Uuid,
    /// The campaign's name, for people.
    pub campaign_name: String,
    pub client_id: Uuid,
    pub tracked_number_id: Uuid,
    pub recipient_id: Option<Uuid>,
    /// The caller's number in E.164; null when the caller withheld it.
    pub caller_phone: Option<String>,
    pub match_status: MatchStatus,
    pub call_status: CallStatus,
    /// Settled from the callbacks in any order; null while the call is live.
    pub call_outcome: Option<CallOutcome>,
    /// Twilio's STIR/SHAKEN verification of the caller ID (`StirVerstat`), when sent.
    pub caller_verstat: Option<String>,
    pub call_started_at: Option<DateTime<Utc>>,
    pub call_answered_at: Option<DateTime<Utc>>,
    pub call_ended_at: Option<DateTime<Utc>>,
    pub call_duration_seconds: Option<i32>,
    /// How long the business talked with the caller.
    pub talk_seconds: Option<i32>,
    pub recording_url: Option<String>,
    pub recording_sid: Option<String>,
    pub recording_duration: Option<i32>,
    /// The message the caller left in calltrack's voicemail.
    pub voicemail_url: Option<String>,
    pub voicemail_duration: Option<i32>,
    pub twilio_call_sid: Option<String>,
    pub forward_to_number: Option<String>,
    pub agent_user_id: Option<Uuid>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<CallSession> for CallSessionOut {
    fn from(s: CallSession) -> Self {
        Self {
            match_status: s.match_status.into(),
            call_status: s.call_status.into(),
            call_outcome: s.call_outcome.map(Into::into),
            caller_verstat: s.caller_verstat,
            voicemail_url: s.voicemail_url,
            voicemail_duration: s.voicemail_duration,
            id: s.id,
            campaign_id: s.campaign_id,
            campaign_name: s.campaign_name,
            client_id: s.client_id,
            tracked_number_id: s.tracked_number_id,
            recipient_id: s.recipient_id,
            caller_phone: s.caller_phone,
            call_started_at: s.call_started_at,
            call_answered_at: s.call_answered_at,
            call_ended_at: s.call_ended_at,
            call_duration_seconds: s.call_duration_seconds,
            talk_seconds: s.talk_seconds,
            recording_url: s.recording_url,
            recording_sid: s.recording_sid,
            recording_duration: s.recording_duration,
            twilio_call_sid: s.twilio_call_sid,
            forward_to_number: s.forward_to_number,
            agent_user_id: s.agent_user_id,
            notes: s.notes,
            created_at: s.created_at,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<CallSessionOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The filters and page of the session list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this campaign's sessions.
    pub campaign_id: Option<Uuid>,
    pub call_status: Option<CallStatus>,
    pub match_status: Option<MatchStatus>,
    /// Only calls with this outcome.
    pub call_outcome: Option<CallOutcome>,
    /// Only calls created at or after this instant (RFC 3339, years 1 to 9999 in UTC); not
    /// after `to`, which the schema cannot state (`400`).
    pub from: Option<DateTime<Utc>>,
    /// Only calls created before this instant (RFC 3339, years 1 to 9999 in UTC); not before
    /// `from`.
    pub to: Option<DateTime<Utc>>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, as it came; one this API did not issue is a
    /// `400`.
    pub cursor: Option<String>,
}

/// The recipient a session is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecipientOut {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub redemption_code: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
}

impl From<Recipient> for RecipientOut {
    fn from(r: Recipient) -> Self {
        Self {
            id: r.id,
            first_name: r.first_name,
            last_name: r.last_name,
            redemption_code: r.redemption_code,
            phone: r.phone,
            email: r.email,
            city: r.city,
            state: r.state,
        }
    }
}

/// A campaign condition an agent can mark.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConditionOut {
    pub id: Uuid,
    pub condition_number: i32,
    pub condition_name: Option<String>,
    /// `call` (an agent marks it, or the call meets it by `auto_min_talk_seconds`), `crm_event`
    /// or `time_delay`: only a manager may mark the last two by hand.
    #[schema(example = "call")]
    pub trigger_type: Option<String>,
    /// The CRM event that meets a `crm_event` condition.
    pub crm_event_name: Option<String>,
    /// Hours after the recipient's first answered call that meet a `time_delay` condition.
    pub time_delay_hours: Option<i32>,
    /// A `call` condition is met by the call itself once the business talked this long.
    pub auto_min_talk_seconds: Option<i32>,
    /// What the reward is, from the campaign's reward config, if one exists.
    pub reward_description: Option<String>,
    /// When a pending `time_delay` condition of this recipient falls due; null otherwise.
    pub due_at: Option<DateTime<Utc>>,
}

impl From<Condition> for ConditionOut {
    fn from(c: Condition) -> Self {
        Self {
            id: c.id,
            condition_number: c.condition_number,
            condition_name: c.condition_name,
            trigger_type: c.trigger_type,
            crm_event_name: c.crm_event_name,
            time_delay_hours: c.time_delay_hours,
            auto_min_talk_seconds: c.auto_min_talk_seconds,
            reward_description: c.reward_description,
            due_at: c.due_at,
        }
    }
}

/// Who met a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetByOut {
    /// An agent's mark, or a manager's override (`met_detail.override` names the trigger).
    Agent,
    /// The call itself: the business talked at least `auto_min_talk_seconds`
    /// (`met_detail.talk_seconds`).
    CallRule,
    /// The CRM reported the event (`met_detail.event`, `met_detail.crm_event_id`).
    CrmEvent,
    /// The delay after the first answered call passed (`met_detail.due_at`).
    TimeDelay,
}

impl From<domain::MetBy> for MetByOut {
    fn from(met_by: domain::MetBy) -> Self {
        match met_by {
            domain::MetBy::Agent => Self::Agent,
            domain::MetBy::CallRule => Self::CallRule,
            domain::MetBy::CrmEvent => Self::CrmEvent,
            domain::MetBy::TimeDelay => Self::TimeDelay,
        }
    }
}

/// A condition met, with its reward and the SMS's delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConditionMetOut {
    pub id: Uuid,
    pub call_session_id: Option<Uuid>,
    pub campaign_id: Uuid,
    pub recipient_id: Uuid,
    pub condition_number: i32,
    pub met_at: DateTime<Utc>,
    pub met_by: MetByOut,
    /// Only when `met_by` is `agent`.
    pub met_by_agent_id: Option<Uuid>,
    /// What met it, for people: `talk_seconds` and `min_talk_seconds` of a call rule; `event`,
    /// `crm_event_id` and `sender_id` of a CRM event; `due_at` of a timer; `override` of a
    /// manager's mark of a condition that is not marked by hand.
    #[schema(value_type = Option<Object>)]
    pub met_detail: Option<serde_json::Value>,
    pub notes: Option<String>,
    pub reward_status: RewardState,
    pub gift_card_id: Option<Uuid>,
    /// Null while no card is provisioned.
    pub delivery_status: Option<DeliveryStatus>,
    /// Twilio's error number when the SMS failed.
    pub delivery_error_code: Option<i32>,
    pub delivery_error_message: Option<String>,
}

impl From<ConditionMet> for ConditionMetOut {
    fn from(c: ConditionMet) -> Self {
        Self {
            delivery_status: c.delivery_status.map(Into::into),
            reward_status: c.reward_status.into(),
            id: c.id,
            call_session_id: c.call_session_id,
            campaign_id: c.campaign_id,
            recipient_id: c.recipient_id,
            condition_number: c.condition_number,
            met_at: c.met_at,
            met_by: c.met_by.into(),
            met_by_agent_id: c.met_by_agent_id,
            met_detail: c.met_detail,
            notes: c.notes,
            gift_card_id: c.gift_card_id,
            delivery_error_code: c.delivery_error_code,
            delivery_error_message: c.delivery_error_message,
        }
    }
}

/// A session with everything an agent needs on screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetailOut {
    #[serde(flatten)]
    pub session: CallSessionOut,
    pub recipient: Option<RecipientOut>,
    /// The campaign's active conditions.
    pub conditions: Vec<ConditionOut>,
    /// The conditions the recipient has met, with their reward and delivery state.
    pub conditions_met: Vec<ConditionMetOut>,
}

impl From<SessionDetail> for SessionDetailOut {
    fn from(d: SessionDetail) -> Self {
        Self {
            session: d.session.into(),
            recipient: d.recipient.map(Into::into),
            conditions: d.conditions.into_iter().map(Into::into).collect(),
            conditions_met: d.conditions_met.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRecipientRequest {
    /// The code printed on the recipient's mail piece; not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub redemption_code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkConditionRequest {
    /// An active condition of the session's campaign (else `422` `inactive_condition`).
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub condition_number: i32,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// The reward of a met condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct RewardOut {
    pub status: RewardState,
    pub gift_card_id: Option<Uuid>,
    /// Null while no card is provisioned.
    pub delivery_status: Option<DeliveryStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkConditionResponse {
    pub condition: ConditionMetOut,
    pub reward: RewardOut,
}

impl From<MarkOutcome> for MarkConditionResponse {
    fn from(outcome: MarkOutcome) -> Self {
        Self::from(outcome.condition)
    }
}

impl From<ConditionMet> for MarkConditionResponse {
    fn from(met: ConditionMet) -> Self {
        let condition = ConditionMetOut::from(met);
        let reward = RewardOut {
            status: condition.reward_status,
            gift_card_id: condition.gift_card_id,
            delivery_status: condition.delivery_status,
        };
        Self { condition, reward }
    }
}

/// How a CRM event names its recipient: exactly one of the three.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CrmRecipientIn {
    RedemptionCode(ByRedemptionCode),
    RecipientId(ByRecipientId),
    Phone(ByPhone),
}

/// The recipient with the code printed on their mail piece.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByRedemptionCode {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub redemption_code: String,
}

/// The recipient with this id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByRecipientId {
    pub recipient_id: Uuid,
}

/// The recipient with this phone, in any format (`(415) 555-0100`, `+1 415 555 0100`):
/// normalised to E.164 and matched among the recipients of the campaigns you can see (or of
/// `campaign_id`); one that is no phone number matches no one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByPhone {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "\\S",
        example = "(415) 555-0100"
    )]
    pub phone: String,
}

/// An event the platform's CRM reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrmEventRequest {
    /// The event's name; it meets the active `crm_event` conditions whose `crm_event_name` it is.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        example = "appointment_kept"
    )]
    pub event: String,
    /// The sender's own unique id for this event: the same id again is answered with the
    /// first answer; with another event, recipient or campaign it is `409`.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        example = "crm-evt-10031"
    )]
    pub id: String,
    /// When it happened (RFC 3339), as the CRM knows it.
    pub occurred_at: Option<DateTime<Utc>>,
    pub recipient: CrmRecipientIn,
    /// Limits the recipient's search to one campaign (the way out of `ambiguous_recipient`).
    pub campaign_id: Option<Uuid>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// A CRM event as received.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrmEventOut {
    /// calltrack's id of the event.
    pub id: Uuid,
    pub event: String,
    /// The sender's id.
    pub sender_id: String,
    pub recipient_id: Uuid,
    pub campaign_id: Uuid,
    /// The recipient's latest call of the campaign when the event arrived, if any.
    pub call_session_id: Option<Uuid>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrmEventResponse {
    pub event: CrmEventOut,
    /// Every active `crm_event` condition of the campaign with this event's name, met (or met
    /// already), with its reward; empty when there is none.
    pub conditions_met: Vec<MarkConditionResponse>,
}

impl From<CrmEventOutcome> for CrmEventResponse {
    fn from(outcome: CrmEventOutcome) -> Self {
        let e = outcome.event;
        Self {
            event: CrmEventOut {
                id: e.id,
                event: e.event,
                sender_id: e.sender_event_id,
                recipient_id: e.recipient_id,
                campaign_id: e.campaign_id,
                call_session_id: e.call_session_id,
                occurred_at: e.occurred_at,
                received_at: e.received_at,
            },
            conditions_met: outcome.conditions_met.into_iter().map(Into::into).collect(),
        }
    }
}

/// A tracked number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackedNumberOut {
    pub id: Uuid,
    pub campaign_id: Uuid,
    /// The number callers dial, E.164.
    pub phone_number: String,
    /// Where calls are forwarded, E.164.
    pub forward_to_number: String,
    pub provider: String,
    /// Twilio's IncomingPhoneNumber SID.
    pub provider_sid: Option<String>,
    pub is_active: bool,
    pub friendly_name: Option<String>,
    /// When the number was released at Twilio; null while it is ours.
    pub released_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Spoken to the business when it picks up.
    pub whisper: Option<String>,
    /// Whether the business must press a key to take a call (only with a whisper).
    pub require_keypress: bool,
    pub voicemail: bool,
    /// Null: the default greeting.
    pub voicemail_greeting: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<serde_json::Value>,
}

impl From<TrackedNumber> for TrackedNumberOut {
    fn from(n: TrackedNumber) -> Self {
        Self {
            id: n.id,
            campaign_id: n.campaign_id,
            phone_number: n.phone_number,
            forward_to_number: n.forward_to_number,
            provider: n.provider,
            provider_sid: n.provider_sid,
            is_active: n.is_active,
            friendly_name: n.friendly_name,
            released_at: n.released_at,
            created_at: n.created_at,
            business_hours: n
                .flow
                .business_hours
                .as_ref()
                .and_then(|h| serde_json::to_value(h).ok()),
            whisper: n.flow.whisper,
            require_keypress: n.flow.require_keypress,
            voicemail: n.flow.voicemail,
            voicemail_greeting: n.flow.voicemail_greeting,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NumberList {
    pub items: Vec<TrackedNumberOut>,
    /// Always null: a campaign has few numbers.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyNumberRequest {
    /// Buy any local number in this North American area code; give exactly one of this and
    /// `phone_number`.
    pub area_code: Option<String>,
    /// Buy exactly this number, E.164; give exactly one of this and `area_code`. It must be a
    /// number in use in its country's numbering plan (`422` `invalid_phone_number`), which the
    /// pattern cannot check, and not the forward-to number (`422` `forward_to_self`).
    pub phone_number: Option<String>,
    /// Where calls to the number are forwarded, E.164: a number in use in its country's
    /// numbering plan (`422` `invalid_forward_to_number`), which the pattern cannot check.
    pub forward_to_number: String,
    /// Spoken to the business when it picks up; `null` or blank removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub whisper: Option<Option<String>>,
    /// With a whisper: the business presses a key to take the call (default `true`).
    pub require_keypress: Option<bool>,
    /// Record a message when the business does not take the call (default `true`).
    pub voicemail: Option<bool>,
    /// What the caller hears before leaving a message; `null` or blank for the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub voicemail_greeting: Option<Option<String>>,
    /// `{"timezone": "America/Chicago", "weekly": {"mon": [["08:00","17:00"]], ...}}`;
    /// outside these hours calls go straight to voicemail. `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// At least one change: stated in `openapi::server_rules`, beside the patterns.
pub struct UpdateNumberRequest {
    /// Where calls are forwarded from now on, E.164: a number in use in its country's
    /// numbering plan (`422` `invalid_forward_to_number`), not the number itself (`422`
    /// `forward_to_self`); `null` leaves it as it is.
    pub forward_to_number: Option<String>,
    /// `false` stops taking calls; `true` takes them again (`409` for a released number);
    /// `null` leaves it as it is.
    pub is_active: Option<bool>,
    /// Spoken to the business when it picks up; `null` or blank removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub whisper: Option<Option<String>>,
    /// With a whisper: the business presses a key to take the call (default `true`).
    pub require_keypress: Option<bool>,
    /// Record a message when the business does not take the call (default `true`).
    pub voicemail: Option<bool>,
    /// What the caller hears before leaving a message; `null` or blank for the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub voicemail_greeting: Option<Option<String>>,
    /// `{"timezone": "America/Chicago", "weekly": {"mon": [["08:00","17:00"]], ...}}`;
    /// outside these hours calls go straight to voicemail. `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<Option<serde_json::Value>>,
}

/// A field that may be given as `null` (to clear) or left out (to keep): present-and-null is
/// `Some(None)`.
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The call-flow fields of a buy or update request, validated.
pub trait FlowFields {
    /// A `400` in words for a bad setting, or for text PostgreSQL cannot store.
    fn flow_change(&self) -> Result<crate::domain::FlowChange, ApiError>;
}

macro_rules! flow_fields {
    ($($request:ty),+) => {$(
        impl FlowFields for $request {
            fn flow_change(&self) -> Result<crate::domain::FlowChange, ApiError> {
                for (field, value) in [
                    ("whisper", &self.whisper),
                    ("voicemail_greeting", &self.voicemail_greeting),
                ] {
                    if let Some(Some(value)) = value {
                        super::text(field, value)?;
                    }
                }
                crate::domain::FlowChange::parse(
                    self.whisper.as_ref().map(Option::as_deref),
                    self.require_keypress,
                    self.voicemail,
                    self.voicemail_greeting.as_ref().map(Option::as_deref),
                    self.business_hours.as_ref().map(Option::as_ref),
                )
                .map_err(|e| ApiError::bad_request(e.to_string()))
            }
        }
    )+};
}
flow_fields!(BuyNumberRequest, UpdateNumberRequest);

/// The call-stats window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only calls created at or after this instant (RFC 3339, years 1 to 9999 in UTC); not
    /// after `to`, which the schema cannot state (`400`).
    pub from: Option<DateTime<Utc>>,
    /// Only calls created before this instant (RFC 3339, years 1 to 9999 in UTC); not before
    /// `from`.
    pub to: Option<DateTime<Utc>>,
}

/// Call and reward statistics of one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallStatsOut {
    pub total_calls: i64,
    /// Distinct caller numbers; withheld callers are not counted.
    pub unique_callers: i64,
    pub matched: i64,
    pub unmatched: i64,
    /// Calls a person at the business took.
    pub answered: i64,
    /// Calls the business did not take (rang out, busy, failed, a screened call not accepted).
    pub missed: i64,
    /// Calls where the caller left a voicemail.
    pub voicemail: i64,
    /// Calls the caller hung up on before the business answered.
    pub abandoned: i64,
    /// Mean talk time of answered calls, in seconds; null without any.
    pub avg_talk_seconds: Option<f64>,
    pub recorded: i64,
    /// Conditions met, by condition number.
    pub conditions_met: BTreeMap<String, i64>,
    pub rewards_provisioned: i64,
    pub rewards_delivered: i64,
    pub rewards_failed: i64,
    /// Rewards not yet delivered or failed: waiting for cards, or queued or sent by SMS.
    pub rewards_pending: i64,
    /// Rewards with no phone to send them to (no card claimed).
    pub rewards_no_phone: i64,
}

impl From<CallStats> for CallStatsOut {
    fn from(s: CallStats) -> Self {
        Self {
            total_calls: s.total_calls,
            unique_callers: s.unique_callers,
            matched: s.matched,
            unmatched: s.unmatched,
            answered: s.answered,
            missed: s.missed,
            voicemail: s.voicemail,
            abandoned: s.abandoned,
            avg_talk_seconds: s.avg_talk_seconds,
            recorded: s.recorded,
            conditions_met: s.conditions_met,
            rewards_provisioned: s.rewards_provisioned,
            rewards_delivered: s.rewards_delivered,
            rewards_failed: s.rewards_failed,
            rewards_pending: s.rewards_pending,
            rewards_no_phone: s.rewards_no_phone,
        }
    }
}

/// The window and bucket of a series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// The first bucket holds this instant (RFC 3339, years 1 to 9999 in UTC); default: 30
    /// days (48 hours) before `to`. Not after `to`, and at most 744 buckets from `to` (or
    /// from now): rules the schema cannot state (`400`).
    pub from: Option<DateTime<Utc>>,
    /// The last bucket holds the instant just before this one (RFC 3339, years 1 to 9999 in
    /// UTC); default: now.
    pub to: Option<DateTime<Utc>>,
    /// `day` (default) or `hour`.
    #[param(value_type = Option<String>)]
    pub bucket: Option<String>,
}

/// One bucket of a series: the calls created and the conditions met within it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesPointOut {
    /// The bucket's first instant.
    pub start: DateTime<Utc>,
    pub total_calls: i64,
    pub matched: i64,
    pub unmatched: i64,
    pub answered: i64,
    pub missed: i64,
    pub voicemail: i64,
    pub abandoned: i64,
    /// Calls still live (no outcome yet).
    pub live: i64,
    pub conditions_met: i64,
    /// Of the conditions met in the bucket: rewards with a card claimed.
    pub rewards_provisioned: i64,
    /// Rewards whose SMS Twilio accepted (sent, or since delivered).
    pub rewards_sent: i64,
    pub rewards_delivered: i64,
    pub rewards_failed: i64,
}

impl From<SeriesPoint> for SeriesPointOut {
    fn from(p: SeriesPoint) -> Self {
        Self {
            start: p.start,
            total_calls: p.total_calls,
            matched: p.matched,
            unmatched: p.unmatched,
            answered: p.answered,
            missed: p.missed,
            voicemail: p.voicemail,
            abandoned: p.abandoned,
            live: p.live,
            conditions_met: p.conditions_met,
            rewards_provisioned: p.rewards_provisioned,
            rewards_sent: p.rewards_sent,
            rewards_delivered: p.rewards_delivered,
            rewards_failed: p.rewards_failed,
        }
    }
}

/// A campaign's counts per bucket, every bucket of the window present.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesOut {
    /// `day` or `hour`.
    pub bucket: String,
    /// The time zone buckets are cut in (`UTC`).
    pub time_zone: String,
    /// The window, rounded out to whole buckets.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<SeriesPointOut>,
}

/// The page of the campaign list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignListQuery {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, as it came; one this API did not issue is a
    /// `400`.
    pub cursor: Option<String>,
}

/// A campaign at a glance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignOut {
    pub id: Uuid,
    pub client_id: Uuid,
    pub client_name: String,
    pub name: String,
    /// The platform's campaign status (`draft`, `mailed`, `active`, ...).
    pub status: String,
    /// When the mail piece dropped; null when not set.
    pub mail_date: Option<chrono::NaiveDate>,
    /// Days the campaign's call recordings and voicemails are kept at Twilio; null keeps them.
    pub recording_retention_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub total_calls: i64,
    /// Calls since midnight UTC.
    pub calls_today: i64,
    /// Calls in the last seven UTC days, today included.
    pub calls_this_week: i64,
    /// Calls with an outcome (not live): the base of the answer rate.
    pub settled_calls: i64,
    pub answered: i64,
    pub matched: i64,
    pub conditions_met: i64,
    pub rewards_delivered: i64,
    /// Tracked numbers taking calls.
    pub active_numbers: i64,
}

impl From<CampaignSummary> for CampaignOut {
    fn from(c: CampaignSummary) -> Self {
        Self {
            id: c.id,
            client_id: c.client_id,
            client_name: c.client_name,
            name: c.name,
            status: c.status,
            mail_date: c.mail_date,
            recording_retention_days: c.recording_retention_days,
            created_at: c.created_at,
            total_calls: c.total_calls,
            calls_today: c.calls_today,
            calls_this_week: c.calls_this_week,
            settled_calls: c.settled_calls,
            answered: c.answered,
            matched: c.matched,
            conditions_met: c.conditions_met,
            rewards_delivered: c.rewards_delivered,
            active_numbers: c.active_numbers,
        }
    }
}

/// A page of campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignPage {
    pub items: Vec<CampaignOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The sessions an export holds.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only calls created at or after this instant (RFC 3339, years 1 to 9999 in UTC); not
    /// after `to`, which the schema cannot state (`400`).
    pub from: Option<DateTime<Utc>>,
    /// Only calls created before this instant (RFC 3339, years 1 to 9999 in UTC); not before
    /// `from`.
    pub to: Option<DateTime<Utc>>,
    pub call_outcome: Option<CallOutcome>,
    pub match_status: Option<MatchStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_name(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn each_wire_name_is_the_stored_name_and_maps_back() {
        for stored in domain::CallStatus::STORED {
            let status = domain::CallStatus::parse_stored(stored).unwrap();
            let wire = CallStatus::from(status);
            assert_eq!(serde_name(wire), stored);
            assert_eq!(domain::CallStatus::from(wire), status);
        }
        assert_eq!(
            CallStatus::from(domain::CallStatus::Queued),
            CallStatus::Initiated
        );
        for outcome in domain::CallOutcome::ALL {
            let wire = CallOutcome::from(outcome);
            assert_eq!(serde_name(wire), outcome.as_str());
            assert_eq!(domain::CallOutcome::from(wire), outcome);
        }
        for status in domain::MatchStatus::ALL {
            let wire = MatchStatus::from(status);
            assert_eq!(serde_name(wire), status.as_str());
            assert_eq!(domain::MatchStatus::from(wire), status);
        }
        for status in domain::DeliveryStatus::ALL {
            assert_eq!(serde_name(DeliveryStatus::from(status)), status.as_str());
        }
    }

    #[test]
    fn every_wire_value_comes_from_a_domain_value() {
        for status in CallStatus::ALL {
            assert_eq!(CallStatus::from(domain::CallStatus::from(*status)), *status);
        }
        for outcome in CallOutcome::ALL {
            assert_eq!(
                CallOutcome::from(domain::CallOutcome::from(*outcome)),
                *outcome
            );
        }
        for status in MatchStatus::ALL {
            assert_eq!(
                MatchStatus::from(domain::MatchStatus::from(*status)),
                *status
            );
        }
        let delivered: Vec<DeliveryStatus> = domain::DeliveryStatus::ALL
            .into_iter()
            .map(DeliveryStatus::from)
            .collect();
        assert_eq!(delivered, DeliveryStatus::ALL);
    }
}
