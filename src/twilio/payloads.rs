//! Typed views of the webhook bodies Twilio posts. Only the fields calltrack acts on are
//! modelled; the rest still count for the signature, which is checked before these are built.

use chrono::{DateTime, Utc};

use super::form::FormPairs;
use crate::domain::{
    CallSid, CallStatus, CallerId, DeliveryReport, DialOutcome, E164, FailureReason, MessageSid,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("missing required field {0}")]
    Missing(&'static str),
    #[error("invalid value in field {0}")]
    Invalid(&'static str),
}

fn required<'a>(form: &'a FormPairs, key: &'static str) -> Result<&'a str, PayloadError> {
    form.get(key)
        .filter(|v| !v.is_empty())
        .ok_or(PayloadError::Missing(key))
}

fn call_sid(form: &FormPairs, key: &'static str) -> Result<CallSid, PayloadError> {
    CallSid::parse(required(form, key)?).map_err(|_| PayloadError::Invalid(key))
}

fn optional_seconds(form: &FormPairs, key: &'static str) -> Result<Option<i32>, PayloadError> {
    match form.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|s| *s >= 0)
            .map(Some)
            .ok_or(PayloadError::Invalid(key)),
    }
}

/// Twilio's `Timestamp` is RFC 2822; an unreadable one is treated as absent rather than
/// refusing a callback that is otherwise fine.
fn timestamp(form: &FormPairs) -> Option<DateTime<Utc>> {
    form.get("Timestamp")
        .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The incoming-call webhook of a tracked number.
#[derive(Debug, Clone)]
pub struct VoiceRequest {
    pub call_sid: CallSid,
    /// The dialled number; `None` when `To` is not a phone number at all (a SIP address or a
    /// Twilio Client identity without one), which no tracked number can be.
    pub to: Option<E164>,
    pub caller: CallerId,
    pub raw_from: String,
    pub status: CallStatus,
    /// Twilio's `Direction`; only `inbound` calls are tracked.
    pub inbound: bool,
    /// Twilio's STIR/SHAKEN verification of the caller ID (`StirVerstat`), when it sent one.
    pub verstat: Option<String>,
}

impl VoiceRequest {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        let call_sid = call_sid(form, "CallSid")?;
        let to = callee(required(form, "To")?);
        // A withheld caller ID may arrive as an empty or absent From; it is still a call.
        // A SIP or client caller is read like a withheld one unless it carries a number.
        let raw_from = form.get("From").unwrap_or_default().to_owned();
        let status = match form.get("CallStatus").filter(|s| !s.is_empty()) {
            Some(s) => CallStatus::parse(s).map_err(|_| PayloadError::Invalid("CallStatus"))?,
            None => CallStatus::Ringing,
        };
        // Absent means inbound: Twilio always sends it, older recordings and tests may not.
        let inbound = form
            .get("Direction")
            .filter(|d| !d.is_empty())
            .is_none_or(|d| d == "inbound");
        Ok(Self {
            call_sid,
            to,
            caller: CallerId::parse(sip_user(&raw_from).unwrap_or(&raw_from)),
            raw_from,
            status,
            inbound,
            verstat: form.get("StirVerstat").and_then(verstat),
        })
    }
}

/// The number a `To` names: E.164 as sent, or the user part of a SIP URI that is one.
fn callee(raw: &str) -> Option<E164> {
    E164::parse(sip_user(raw).unwrap_or(raw)).ok()
}

/// `sip:+18005550123@example.sip.twilio.com;transport=udp` → `+18005550123`.
fn sip_user(raw: &str) -> Option<&str> {
    let rest = raw
        .strip_prefix("sip:")
        .or_else(|| raw.strip_prefix("sips:"))?;
    Some(rest.split(['@', ';']).next().unwrap_or(rest))
}

/// Twilio's verification values are short tokens (`TN-Validation-Passed-A`, ...); anything
/// else is not worth storing.
fn verstat(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| raw.to_owned())
}

/// A call status callback: the number's own (parent leg) or a `<Number statusCallback>`
/// one for the forwarded leg, which carries `ParentCallSid`.
#[derive(Debug, Clone)]
pub struct StatusCallback {
    pub call_sid: CallSid,
    pub parent_call_sid: Option<CallSid>,
    pub status: CallStatus,
    pub duration_seconds: Option<i32>,
    pub timestamp: Option<DateTime<Utc>>,
}

impl StatusCallback {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        let parent_call_sid = match form.get("ParentCallSid").filter(|v| !v.is_empty()) {
            Some(_) => Some(call_sid(form, "ParentCallSid")?),
            None => None,
        };
        Ok(Self {
            call_sid: call_sid(form, "CallSid")?,
            parent_call_sid,
            status: CallStatus::parse(required(form, "CallStatus")?)
                .map_err(|_| PayloadError::Invalid("CallStatus"))?,
            duration_seconds: optional_seconds(form, "CallDuration")?,
            timestamp: timestamp(form),
        })
    }

    /// The call this callback is about from calltrack's point of view: the parent's for a
    /// child leg, since a forwarded leg never gets a session of its own.
    pub fn session_call_sid(&self) -> &CallSid {
        self.parent_call_sid.as_ref().unwrap_or(&self.call_sid)
    }

    pub fn is_child_leg(&self) -> bool {
        self.parent_call_sid.is_some()
    }
}

/// The `<Dial action>` callback, sent when the forwarded leg ends.
#[derive(Debug, Clone)]
pub struct DialAction {
    pub call_sid: CallSid,
    /// The tracked number the caller dialled, whose call flow decides what follows.
    pub to: Option<E164>,
    pub outcome: DialOutcome,
}

impl DialAction {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        let status = CallStatus::parse(required(form, "DialCallStatus")?)
            .map_err(|_| PayloadError::Invalid("DialCallStatus"))?;
        Ok(Self {
            call_sid: call_sid(form, "CallSid")?,
            to: form.get("To").and_then(callee),
            outcome: DialOutcome {
                status,
                talk_seconds: optional_seconds(form, "DialCallDuration")?,
            },
        })
    }
}

/// The screening `<Gather>`'s action: the business pressed a key to take the call. The call
/// it accepts is the parent, named by `ParentCallSid` (the screening URL carries it).
#[derive(Debug, Clone)]
pub struct ScreenAccept {
    pub parent_call_sid: CallSid,
    pub accepted: bool,
}

impl ScreenAccept {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        Ok(Self {
            parent_call_sid: call_sid(form, "ParentCallSid")?,
            accepted: form.get("Digits").is_some_and(|d| !d.is_empty()),
        })
    }
}

/// A recording status callback.
#[derive(Debug, Clone)]
pub struct RecordingCallback {
    pub call_sid: CallSid,
    pub recording_sid: String,
    /// Absent when the recording is `absent` or `failed`.
    pub recording_url: Option<String>,
    pub status: String,
    pub duration_seconds: Option<i32>,
}

impl RecordingCallback {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        let recording_sid = required(form, "RecordingSid")?;
        if !recording_sid.starts_with("RE") || recording_sid.len() != 34 {
            return Err(PayloadError::Invalid("RecordingSid"));
        }
        Ok(Self {
            call_sid: call_sid(form, "CallSid")?,
            recording_sid: recording_sid.to_owned(),
            recording_url: form
                .get("RecordingUrl")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            status: form
                .get("RecordingStatus")
                .unwrap_or("completed")
                .to_owned(),
            duration_seconds: optional_seconds(form, "RecordingDuration")?,
        })
    }

    /// The playable URL of a finished recording; `absent` and `failed` ones have none and
    /// leave the session alone.
    pub fn completed_url(&self) -> Option<&str> {
        self.recording_url
            .as_deref()
            .filter(|_| self.status == "completed")
    }
}

/// A message status callback of a reward SMS (`StatusCallback` of the Messages API).
#[derive(Debug, Clone)]
pub struct SmsStatusCallback {
    pub message_sid: MessageSid,
    pub report: DeliveryReport,
}

impl SmsStatusCallback {
    pub fn from_form(form: &FormPairs) -> Result<Self, PayloadError> {
        let message_sid = MessageSid::parse(required(form, "MessageSid")?)
            .map_err(|_| PayloadError::Invalid("MessageSid"))?;
        let status = required(form, "MessageStatus")?;
        let error_code = match form.get("ErrorCode").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(
                v.parse::<i32>()
                    .map_err(|_| PayloadError::Invalid("ErrorCode"))?,
            ),
        };
        Ok(Self {
            message_sid,
            report: delivery_report(status, error_code),
        })
    }
}

/// What one of Twilio's message statuses means for a delivery. `read` (a channel that reports
/// reading) implies delivery; statuses Twilio may add later are [`DeliveryReport::Other`]. A
/// failure is transient when [`crate::twilio::errors`] says so of its `ErrorCode`.
pub fn delivery_report(status: &str, error_code: Option<i32>) -> DeliveryReport {
    let reason = match status {
        "accepted" | "scheduled" | "queued" | "sending" | "sent" => {
            return DeliveryReport::InFlight;
        }
        "delivered" | "read" => return DeliveryReport::Delivered,
        "failed" => FailureReason::Failed,
        "undelivered" => FailureReason::Undelivered,
        _ => return DeliveryReport::Other,
    };
    DeliveryReport::Failed {
        error_code,
        reason,
        transient: super::errors::is_transient_delivery_failure(error_code),
    }
}

/// A report parked in `sms_status_parked` as (kind, `ErrorCode`), rebuilt with today's reading
/// of the code.
pub fn parked_report(kind: &str, error_code: Option<i32>) -> DeliveryReport {
    DeliveryReport::from_parked(
        kind,
        error_code,
        super::errors::is_transient_delivery_failure(error_code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "CA1234567890abcdef1234567890abcdef";
    const PARENT: &str = "CAffffffffffffffffffffffffffffffff";

    #[test]
    fn voice_request_needs_call_sid_and_to() {
        let form = FormPairs::from_pairs([("To", "+14155550100")]);
        assert_eq!(
            VoiceRequest::from_form(&form).unwrap_err(),
            PayloadError::Missing("CallSid")
        );
        let form = FormPairs::from_pairs([("CallSid", SID)]);
        assert_eq!(
            VoiceRequest::from_form(&form).unwrap_err(),
            PayloadError::Missing("To")
        );
    }

    #[test]
    fn voice_request_without_from_is_a_withheld_caller() {
        let form = FormPairs::from_pairs([("CallSid", SID), ("To", "+14155550100")]);
        let voice = VoiceRequest::from_form(&form).unwrap();
        assert_eq!(voice.caller, CallerId::Withheld);
        assert_eq!(voice.status, CallStatus::Ringing);
    }

    #[test]
    fn a_sip_or_client_call_is_read_without_a_400() {
        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("To", "sip:+18005550123@acme.sip.twilio.com;transport=udp"),
            ("From", "client:front-desk"),
        ]);
        let voice = VoiceRequest::from_form(&form).unwrap();
        assert_eq!(voice.to.map(|t| t.to_string()), Some("+18005550123".into()));
        assert_eq!(voice.caller, CallerId::Withheld);

        let form = FormPairs::from_pairs([("CallSid", SID), ("To", "client:agent-7")]);
        assert_eq!(VoiceRequest::from_form(&form).unwrap().to, None);
    }

    #[test]
    fn direction_and_stir_verstat_are_read() {
        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("To", "+18005550123"),
            ("Direction", "outbound-api"),
            ("StirVerstat", "TN-Validation-Passed-A"),
        ]);
        let voice = VoiceRequest::from_form(&form).unwrap();
        assert!(!voice.inbound);
        assert_eq!(voice.verstat.as_deref(), Some("TN-Validation-Passed-A"));

        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("To", "+18005550123"),
            ("Direction", "inbound"),
            ("StirVerstat", "<script>"),
        ]);
        let voice = VoiceRequest::from_form(&form).unwrap();
        assert!(voice.inbound);
        assert_eq!(voice.verstat, None, "not a verification token");
    }

    #[test]
    fn an_absent_recording_needs_no_url() {
        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("RecordingSid", "RE1234567890abcdef1234567890abcdef"),
            ("RecordingStatus", "absent"),
        ]);
        let callback = RecordingCallback::from_form(&form).unwrap();
        assert_eq!(callback.completed_url(), None);
    }

    #[test]
    fn child_leg_status_maps_to_the_parent() {
        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("ParentCallSid", PARENT),
            ("CallStatus", "completed"),
            ("CallDuration", "42"),
            ("Timestamp", "Wed, 25 Nov 2026 14:52:22 +0000"),
        ]);
        let cb = StatusCallback::from_form(&form).unwrap();
        assert_eq!(cb.session_call_sid().as_str(), PARENT);
        assert_eq!(cb.duration_seconds, Some(42));
        assert!(cb.timestamp.is_some());
    }

    #[test]
    fn bad_numbers_and_statuses_are_invalid_not_missing() {
        let form = FormPairs::from_pairs([("CallSid", SID), ("CallStatus", "exploded")]);
        assert_eq!(
            StatusCallback::from_form(&form).unwrap_err(),
            PayloadError::Invalid("CallStatus")
        );
        let form = FormPairs::from_pairs([
            ("CallSid", SID),
            ("CallStatus", "completed"),
            ("CallDuration", "-1"),
        ]);
        assert_eq!(
            StatusCallback::from_form(&form).unwrap_err(),
            PayloadError::Invalid("CallDuration")
        );
    }

    const MESSAGE: &str = "SM0123456789abcdef0123456789abcdef";

    #[test]
    fn sms_status_needs_sid_and_status_and_reads_the_error_code() {
        let form = FormPairs::from_pairs([("MessageStatus", "delivered")]);
        assert_eq!(
            SmsStatusCallback::from_form(&form).unwrap_err(),
            PayloadError::Missing("MessageSid")
        );
        let form = FormPairs::from_pairs([("MessageSid", MESSAGE)]);
        assert_eq!(
            SmsStatusCallback::from_form(&form).unwrap_err(),
            PayloadError::Missing("MessageStatus")
        );
        let form = FormPairs::from_pairs([
            ("MessageSid", MESSAGE),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]);
        assert_eq!(
            SmsStatusCallback::from_form(&form).unwrap().report,
            DeliveryReport::Failed {
                error_code: Some(30003),
                reason: FailureReason::Undelivered,
                transient: false,
            }
        );
    }

    #[test]
    fn message_statuses_map_to_delivery_reports() {
        assert_eq!(delivery_report("sent", None), DeliveryReport::InFlight);
        assert_eq!(delivery_report("queued", None), DeliveryReport::InFlight);
        assert_eq!(
            delivery_report("delivered", None),
            DeliveryReport::Delivered
        );
        assert_eq!(
            delivery_report("something-new", None),
            DeliveryReport::Other
        );
        assert_eq!(
            delivery_report("failed", Some(30008)),
            DeliveryReport::Failed {
                error_code: Some(30008),
                reason: FailureReason::Failed,
                transient: true,
            }
        );
        assert_eq!(
            delivery_report("undelivered", Some(30001)),
            DeliveryReport::Failed {
                error_code: Some(30001),
                reason: FailureReason::Undelivered,
                transient: true,
            }
        );
        assert!(!delivery_report("undelivered", Some(30006)).is_transient_failure());
        assert!(!delivery_report("failed", None).is_transient_failure());
    }
}
