//! The only module that knows Twilio's wire format: form fields, signatures, TwiML and the
//! REST API; it also owns the account's settings and the public URL Twilio calls back on.
//! Nothing here imports `config`: `config` reads the environment and builds these types.

pub mod carried;
pub mod client;
pub mod dial_action;
pub mod errors;
pub mod extract;
pub mod fallback;
pub mod form;
pub mod payloads;
pub mod public_base_url;
pub mod screening;
pub mod settings;
pub mod signature;
pub mod simulated;
pub mod twiml;

pub use public_base_url::{InvalidPublicBaseUrl, PublicBaseUrl};
pub use settings::{SmsSender, TwilioSettings, token_bytes};
