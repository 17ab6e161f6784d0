//! Pure domain types: parsed once at the edge, no I/O, no framework types.

mod call_sid;
mod call_status;
pub mod gift_card_csv;
mod phone;

pub use call_sid::{CallSid, CallSidError};
pub use call_status::{CallStatus, CallStatusError, DialOutcome, StatusRank};
pub use phone::{CallerId, E164, PhoneError, mask_phone};
