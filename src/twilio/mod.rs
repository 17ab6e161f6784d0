//! The only module that knows Twilio's wire format: form fields, signatures, TwiML and the
//! REST API.

pub mod carried;
pub mod client;
pub mod dial_action;
pub mod errors;
pub mod extract;
pub mod fallback;
pub mod form;
pub mod payloads;
pub mod screening;
pub mod signature;
pub mod simulated;
pub mod twiml;
