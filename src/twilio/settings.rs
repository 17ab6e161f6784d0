//! The Twilio account the service talks to. Built by `config` from the environment; nothing
//! here reads it.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

/// Longest a single call to Twilio may take. The outbox lease is much longer, so a call that
/// times out always ends before another worker may take the row over. A client may be built
/// with a shorter timeout ([`TwilioSettings::request_timeout`]), never a longer one.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Twilio's REST API, unless `TWILIO_API_BASE_URL` points elsewhere (a test's stand-in).
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// Who reward SMS come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSender {
    From(String),
    MessagingService(String),
}

/// The Twilio account: what the REST client and the webhook verifier need.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: SecretString,
    /// Without a trailing slash.
    pub api_base_url: String,
    pub sms_sender: Option<SmsSender>,
    /// `TWILIO_AUTH_TOKEN_SECONDARY`: during a token rotation webhooks signed with either
    /// token are accepted.
    pub secondary_auth_token: Option<SecretString>,
    /// How long one REST request may take. Not read from the environment: the default,
    /// [`REQUEST_TIMEOUT`], is also the longest the client allows, and tests shorten it to
    /// play a Twilio that answers too late without waiting for it.
    pub request_timeout: Duration,
}

impl TwilioSettings {
    /// The account with everything else at its default: Twilio's own API, no SMS sender, no
    /// second token, the longest request timeout.
    pub fn new(account_sid: String, auth_token: SecretString) -> Self {
        Self {
            account_sid,
            auth_token,
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            sms_sender: None,
            secondary_auth_token: None,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// The auth token's bytes, for signing and checking webhooks.
pub fn token_bytes(token: &SecretString) -> &[u8] {
    token.expose_secret().as_bytes()
}
