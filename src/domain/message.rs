use std::fmt;

/// A Twilio message SID: `SM` (SMS) or `MM` (MMS) followed by 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageSid(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Twilio message SID (expected SM or MM and 32 hex digits)")]
pub struct MessageSidError;

impl MessageSid {
    /// Accepts exactly what Twilio issues, so a forged or truncated SID never reaches SQL.
    pub fn parse(raw: &str) -> Result<Self, MessageSidError> {
        let valid = raw.len() == 34
            && (raw.starts_with("SM") || raw.starts_with("MM"))
            && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MessageSidError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a message status report (a status callback, or a message listed by Twilio) means
/// for a reward's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReport {
    /// Still on its way (`accepted`, `queued`, `sending`, `sent`, ...): never moves a
    /// delivered or failed delivery back.
    InFlight,
    /// The handset received it.
    Delivered,
    /// The carrier or Twilio gave up; `error_code` is Twilio's number when it sent one.
    Failed {
        error_code: Option<i32>,
        reason: FailureReason,
    },
    /// A status calltrack does not act on (e.g. one Twilio added later).
    Other,
}

/// Which kind of failure Twilio reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Twilio could not send the message at all.
    Failed,
    /// Sent, but the carrier could not deliver it.
    Undelivered,
}

impl DeliveryReport {
    /// A short human sentence for `delivery_error_message`.
    pub fn failure_message(&self) -> Option<String> {
        let Self::Failed { error_code, reason } = self else {
            return None;
        };
        let what = match reason {
            FailureReason::Failed => "Twilio could not send the SMS",
            FailureReason::Undelivered => "the carrier could not deliver the SMS",
        };
        Some(match error_code {
            Some(code) => format!("{what} (Twilio error {code})"),
            None => what.to_owned(),
        })
    }

    /// A final report as stored while it waits for its message: (kind, Twilio error code).
    pub fn parked_form(&self) -> Option<(&'static str, Option<i32>)> {
        match self {
            Self::Delivered => Some(("delivered", None)),
            Self::Failed {
                error_code,
                reason: FailureReason::Failed,
            } => Some(("failed", *error_code)),
            Self::Failed {
                error_code,
                reason: FailureReason::Undelivered,
            } => Some(("undelivered", *error_code)),
            Self::InFlight | Self::Other => None,
        }
    }

    /// The report [`DeliveryReport::parked_form`] stored.
    pub fn from_parked(kind: &str, error_code: Option<i32>) -> Self {
        match kind {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed {
                error_code,
                reason: FailureReason::Failed,
            },
            "undelivered" => Self::Failed {
                error_code,
                reason: FailureReason::Undelivered,
            },
            _ => Self::Other,
        }
    }

    /// Whether this report settles the delivery one way or the other.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Delivered | Self::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sms_and_mms_sids_and_refuses_look_alikes() {
        assert!(MessageSid::parse("SM1234567890abcdef1234567890abcdef").is_ok());
        assert!(MessageSid::parse("MM1234567890abcdef1234567890abcdef").is_ok());
        assert!(MessageSid::parse("CA1234567890abcdef1234567890abcdef").is_err());
        assert!(MessageSid::parse("SM1234567890abcdef").is_err());
        assert!(MessageSid::parse("SM1234567890abcdef1234567890abcdeg").is_err());
    }

    #[test]
    fn failures_explain_themselves_with_the_code() {
        let report = DeliveryReport::Failed {
            error_code: Some(30003),
            reason: FailureReason::Undelivered,
        };
        assert_eq!(
            report.failure_message().unwrap(),
            "the carrier could not deliver the SMS (Twilio error 30003)"
        );
        assert!(report.is_final());
        assert_eq!(DeliveryReport::InFlight.failure_message(), None);
        let (kind, code) = report.parked_form().unwrap();
        assert_eq!(DeliveryReport::from_parked(kind, code), report);
        assert_eq!(DeliveryReport::InFlight.parked_form(), None);
        assert!(!DeliveryReport::InFlight.is_final());
    }
}
