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
        greeting_or_default(self.voicemail_greeting.as_deref())
    }

    /// What the `<Dial action>` of a call forwarded with this flow follows.
    pub fn dial_flow(&self) -> DialFlow {
        DialFlow {
            voicemail: self.voicemail,
            // Only a voicemail says it; without one it would be dead weight in the URL.
            voicemail_greeting: self.voicemail_greeting.clone().filter(|_| self.voicemail),
            screened: self.screens(),
        }
    }

    /// Whether the business is open at `at`; without hours, always.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        self.business_hours
            .as_ref()
            .is_none_or(|hours| hours.is_open_at(at))
    }
}

/// The part of a call flow the `<Dial action>` follows once the forwarded leg ended: whether
/// the caller may leave a message, with which greeting, and whether a key press rather than
/// the pick-up decided that the business took the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialFlow {
    pub voicemail: bool,
    /// `None` for the default greeting.
    pub voicemail_greeting: Option<String>,
    pub screened: bool,
}

impl DialFlow {
    pub fn greeting(&self) -> &str {
        greeting_or_default(self.voicemail_greeting.as_deref())
    }
}

fn greeting_or_default(greeting: Option<&str>) -> &str {
    greeting.unwrap_or(DEFAULT_VOICEMAIL_GREETING)
}

/// The longest whisper or greeting accepted: spoken text, not a document.
pub const MAX_SPOKEN_CHARS: usize = 500;

/// A change to a number's call flow, as a manager asks for it. `None` leaves a setting as it
/// is; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowChange {
    pub whisper: Option<Option<String>>,
    pub require_keypress: Option<bool>,
    pub voicemail: Option<bool>,
    pub voicemail_greeting: Option<Option<String>>,
    pub business_hours: Option<Option<BusinessHours>>,
}

/// Why a call-flow change was refused, in words for the API.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("{field} is longer than {MAX_SPOKEN_CHARS} characters")]
    TooLong { field: &'static str },
    #[error("business_hours: {0}")]
    Hours(#[from] super::BusinessHoursError),
}

impl FlowChange {
    /// Validates the raw settings; blank text clears a setting like `null` does.
    pub fn parse(
        whisper: Option<Option<&str>>,
        require_keypress: Option<bool>,
        voicemail: Option<bool>,
        voicemail_greeting: Option<Option<&str>>,
        business_hours: Option<Option<&serde_json::Value>>,
    ) -> Result<Self, FlowError> {
        let spoken = |field: &'static str, raw: Option<Option<&str>>| {
            raw.map(|text| {
                let text = text.map(str::trim).filter(|t| !t.is_empty());
                match text {
                    Some(t) if t.chars().count() > MAX_SPOKEN_CHARS => {
                        Err(FlowError::TooLong { field })
                    }
                    t => Ok(t.map(str::to_owned)),
                }
            })
            .transpose()
        };
        Ok(Self {
            whisper: spoken("whisper", whisper)?,
            require_keypress,
            voicemail,
            voicemail_greeting: spoken("voicemail_greeting", voicemail_greeting)?,
            business_hours: business_hours
                .map(|h| h.map(BusinessHours::parse).transpose())
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
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
    fn a_flow_change_trims_text_clears_blanks_and_refuses_bad_hours() {
        let change =
            FlowChange::parse(Some(Some("  Hi  ")), None, None, Some(Some(" ")), None).unwrap();
        assert_eq!(change.whisper, Some(Some("Hi".into())));
        assert_eq!(change.voicemail_greeting, Some(None));
        assert!(
            FlowChange::parse(None, None, None, None, None)
                .unwrap()
                .is_empty()
        );
        let long = "x".repeat(MAX_SPOKEN_CHARS + 1);
        assert_eq!(
            FlowChange::parse(Some(Some(&long)), None, None, None, None),
            Err(FlowError::TooLong { field: "whisper" })
        );
        let hours = serde_json::json!({"timezone": "America/Chicgo", "weekly": {}});
        let refused = FlowChange::parse(None, None, None, None, Some(Some(&hours))).unwrap_err();
        assert!(refused.to_string().contains("America/Chicgo"), "{refused}");
    }

    #[test]
    fn the_default_greeting_stands_in_for_a_missing_one() {
        let flow = CallFlow::default();
        assert_eq!(flow.greeting(), DEFAULT_VOICEMAIL_GREETING);
        assert_eq!(flow.dial_flow().greeting(), DEFAULT_VOICEMAIL_GREETING);
    }

    #[test]
    fn the_dial_flow_keeps_the_greeting_only_with_voicemail_and_screens_with_the_flow() {
        let whispering = |voicemail| {
            CallFlow::from_columns(
                Some("Call from the mailer".into()),
                None,
                voicemail,
                Some("Leave a message.".into()),
                None,
            )
        };

        assert_eq!(
            whispering(true).dial_flow(),
            DialFlow {
                voicemail: true,
                voicemail_greeting: Some("Leave a message.".into()),
                screened: true,
            }
        );
        assert_eq!(
            whispering(false).dial_flow(),
            DialFlow {
                voicemail: false,
                voicemail_greeting: None,
                screened: true,
            }
        );
        assert!(!CallFlow::default().dial_flow().screened);
    }
}
