//! Pure domain types: parsed once at the edge, no I/O, no framework types.

mod business_hours;
mod call_flow;
mod call_outcome;
mod call_sid;
mod call_status;
pub mod campaign_setup;
mod delivery_status;
pub mod gift_card_csv;
mod look_back;
mod match_status;
mod message;
mod met_by;
mod phone;
pub mod recipient_csv;
mod role;
mod series;
pub mod sms_template;
mod time_range;
mod webhook_event;

pub use business_hours::{BusinessHours, BusinessHoursError};
pub use call_flow::{
    CallFlow, DEFAULT_VOICEMAIL_GREETING, DialFlow, FlowChange, FlowError, MAX_SPOKEN_CHARS,
};
pub use call_outcome::{CallOutcome, CallOutcomeError};
pub use call_sid::{CallSid, CallSidError};
pub use call_status::{CallStatus, CallStatusError, DialOutcome, StatusRank};
pub use delivery_status::{DeliveryStatus, DeliveryStatusError};
pub use look_back::{LookBack, LookBackError};
pub use match_status::{MatchStatus, MatchStatusError};
pub use message::{
    DeliveryReport, FailureReason, MessageSid, MessageSidError, SMS_MAX_ATTEMPTS, sms_retry_delay,
};
pub use met_by::{MetBy, MetByError, TriggerType, TriggerTypeError};
pub use phone::{
    AreaCode, AreaCodeError, CallerId, DialableError, DialableNumber, E164, PhoneError, mask_phone,
};
pub use role::Role;
pub use series::{Bucket, MAX_BUCKETS, SeriesError, SeriesWindow};
pub use sms_template::{RewardDetails, SmsBody, SmsTemplate};
pub use time_range::{TimeRange, TimeRangeError};
pub use webhook_event::{WebhookEvent, WebhookEventError};
