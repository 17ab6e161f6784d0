use std::fmt;
use std::time::Duration;

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
    /// `transient`: Twilio's code says a new message may get through (a queue overflow, an
    /// unknown carrier error), so the reward is sent again rather than failed.
    Failed {
        error_code: Option<i32>,
        reason: FailureReason,
        transient: bool,
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
        let Self::Failed {
            error_code, reason, ..
        } = self
        else {
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
    /// Whether a failure is transient is not stored: it follows from the code.
    pub fn parked_form(&self) -> Option<(&'static str, Option<i32>)> {
        match self {
            Self::Delivered => Some(("delivered", None)),
            Self::Failed {
                error_code,
                reason: FailureReason::Failed,
                ..
            } => Some(("failed", *error_code)),
            Self::Failed {
                error_code,
                reason: FailureReason::Undelivered,
                ..
            } => Some(("undelivered", *error_code)),
            Self::InFlight | Self::Other => None,
        }
    }

    /// The report [`DeliveryReport::parked_form`] stored; `transient` as its code says.
    pub fn from_parked(kind: &str, error_code: Option<i32>, transient: bool) -> Self {
        let reason = match kind {
            "delivered" => return Self::Delivered,
            "failed" => FailureReason::Failed,
            "undelivered" => FailureReason::Undelivered,
            _ => return Self::Other,
        };
        Self::Failed {
            error_code,
            reason,
            transient,
        }
    }

    /// Whether this report is a failure worth a new message.
    pub fn is_transient_failure(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                transient: true,
                ..
            }
        )
    }

    /// Whether this report settles the delivery one way or the other.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Delivered | Self::Failed { .. })
    }
}

/// Attempts before a reward SMS that keeps failing transiently is given up as failed. A
/// message Twilio later reports failed with a transient code counts as one attempt too.
pub const SMS_MAX_ATTEMPTS: i32 = 10;

/// The longest wait between two attempts.
const SMS_MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// The wait after attempt `attempt` (1-based) failed: 1 s, 2 s, 4 s, ... capped at 10 minutes.
pub fn sms_retry_delay(attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    Duration::from_secs(1 << exponent).min(SMS_MAX_RETRY_DELAY)
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
            transient: false,
        };
        assert_eq!(
            report.failure_message().unwrap(),
            "the carrier could not deliver the SMS (Twilio error 30003)"
        );
        assert!(report.is_final());
        assert!(!report.is_transient_failure());
        assert_eq!(DeliveryReport::InFlight.failure_message(), None);
        let (kind, code) = report.parked_form().unwrap();
        assert_eq!(DeliveryReport::from_parked(kind, code, false), report);
        let overflow = DeliveryReport::Failed {
            error_code: Some(30001),
            reason: FailureReason::Failed,
            transient: true,
        };
        assert_eq!(
            overflow.failure_message().unwrap(),
            "Twilio could not send the SMS (Twilio error 30001)"
        );
        let (kind, code) = overflow.parked_form().unwrap();
        assert_eq!(DeliveryReport::from_parked(kind, code, true), overflow);
        assert_eq!(DeliveryReport::InFlight.parked_form(), None);
        assert!(!DeliveryReport::InFlight.is_final());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_ten_minutes() {
        let delays: Vec<u64> = (1..=12).map(|a| sms_retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(sms_retry_delay(0).as_secs(), 1);
        assert_eq!(sms_retry_delay(i32::MAX).as_secs(), 600);
    }
}
