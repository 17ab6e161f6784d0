//! A tracked number's call flow: what the business hears before it takes a call, what the
//! caller hears when it does not, and when the business is open.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BusinessHours;

/// The greeting of calltrack's voicemail when the number sets none.
pub const DEFAULT_VOICEMAIL_GREETING: &str =
    "Sorry, nobody can take your call right now. Please leave a message after the tone.";

/// How calls to one number are handled. The default forwards straight through, with
/// voicemail when the business does not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFlow {
    /// Spoken to the business when it picks up, before the caller is connected.
    pub whisper: Option<String>,
    /// With a whisper: the business must press a key to take the call, so its own
    /// voicemail picking up is never counted as answered.
    pub require_keypress: bool,
    /// Record a message when the business does not take the call.
    pub voicemail: bool,
    pub voicemail_greeting: Option<String>,
    /// Weekly opening hours; outside them calls go straight to voicemail. Boxed: a week of
    /// intervals is large and most numbers have none.
    pub business_hours: Option<Box<BusinessHours>>,
}

impl Default for CallFlow {
    fn default() -> Self {
        Self {
            whisper: None,
            require_keypress: false,
            voicemail: true,
            voicemail_greeting: None,
            business_hours: None,
        }
    }
}

impl CallFlow {
    /// The stored columns, with `require_keypress` defaulting to true when a whisper is set.
    /// Stored hours that do not parse (written by hand, say) count as none: always open, so
    /// a configuration mistake forwards calls rather than sending them all to voicemail.
    pub fn from_columns(
        whisper: Option<String>,
        require_keypress: Option<bool>,
        voicemail: bool,
        voicemail_greeting: Option<String>,
        business_hours: Option<serde_json::Value>,
    ) -> Self {
        let whisper = whisper.filter(|w| !w.trim().is_empty());
        Self {
            require_keypress: whisper.is_some() && require_keypress.unwrap_or(true),
            whisper,
            voicemail,
            voicemail_greeting: voicemail_greeting.filter(|g| !g.trim().is_empty()),
            business_hours: business_hours
                .and_then(|h| BusinessHours::parse(&h).ok())
                .map(Box::new),
        }
    }

    /// Whether a key press, not the pick-up, decides that a person took the call.
    pub fn screens(&self) -> bool {
        self.whisper.is_some() && self.require_keypress
    }

    pub fn greeting(&self) -> &str {
        self.voicemail_greeting
            .as_deref()
            .unwrap_or(DEFAULT_VOICEMAIL_GREETING)
    }

    /// Whether the business is open at `at`; without hours, always.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        self.business_hours
            .as_ref()
            .is_none_or(|hours| hours.is_open_at(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whisper_screens_unless_a_key_press_is_switched_off() {
        let flow =
            CallFlow::from_columns(Some("Call from the mailer".into()), None, true, None, None);
        assert!(flow.screens());
        let flow = CallFlow::from_columns(
            Some("Call from the mailer".into()),
            Some(false),
            true,
            None,
            None,
        );
        assert!(!flow.screens());
        let flow = CallFlow::from_columns(Some("  ".into()), Some(true), true, None, None);
        assert!(!flow.screens(), "a blank whisper is no whisper");
    }

    #[test]
    fn hours_that_do_not_parse_count_as_always_open() {
        let closed_all_week = serde_json::json!({"timezone": "America/Chicago", "weekly": {}});
        let flow = CallFlow::from_columns(None, None, true, None, Some(closed_all_week));
        assert!(!flow.is_open_at(Utc::now()));
        let broken = serde_json::json!({"timezone": "Mars/Olympus", "weekly": {}});
        let flow = CallFlow::from_columns(None, None, true, None, Some(broken));
        assert!(flow.is_open_at(Utc::now()));
    }

    #[test]
    fn the_default_greeting_stands_in_for_a_missing_one() {
        let flow = CallFlow::default();
        assert_eq!(flow.greeting(), DEFAULT_VOICEMAIL_GREETING);
    }
}
