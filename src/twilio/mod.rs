//! The only module that knows Twilio's wire format: form fields, signatures and TwiML.

pub mod extract;
pub mod fixtures;
pub mod form;
pub mod payloads;
pub mod signature;
pub mod twiml;
