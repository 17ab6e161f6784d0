//! Realistic webhook bodies from `fixtures/`, with every field Twilio sends, rewritten for
//! one simulated call. Used by `calltrack simulate`, the benchmark and the tests.

use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::twilio::form::FormPairs;

/// A recorded webhook body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    VoiceIncoming,
    StatusChildInitiated,
    StatusChildRinging,
    StatusChildAnswered,
    StatusChildCompleted,
    StatusChildNoAnswer,
    StatusParentCompleted,
    DialActionCompleted,
    RecordingCompleted,
    SmsStatusDelivered,
}

impl Fixture {
    fn source(self) -> &'static str {
        match self {
            Self::VoiceIncoming => include_str!("../../fixtures/voice_incoming.form"),
            Self::StatusChildInitiated => {
                include_str!("../../fixtures/status_child_initiated.form")
            }
            Self::StatusChildRinging => include_str!("../../fixtures/status_child_ringing.form"),
            Self::StatusChildAnswered => include_str!("../../fixtures/status_child_answered.form"),
            Self::StatusChildCompleted => {
                include_str!("../../fixtures/status_child_completed.form")
            }
            Self::StatusChildNoAnswer => include_str!("../../fixtures/status_child_no_answer.form"),
            Self::StatusParentCompleted => {
                include_str!("../../fixtures/status_parent_completed.form")
            }
            Self::DialActionCompleted => include_str!("../../fixtures/dial_action_completed.form"),
            Self::RecordingCompleted => include_str!("../../fixtures/recording_completed.form"),
            Self::SmsStatusDelivered => include_str!("../../fixtures/sms_status_delivered.form"),
        }
    }

    /// The fixture's fields as Twilio sent them.
    pub fn form(self) -> FormPairs {
        // The fixtures are checked by a test, so a broken file fails there, not here.
        FormPairs::parse(self.source().trim().as_bytes()).unwrap_or_default()
    }
}

/// A random SID with Twilio's shape: two letters, 32 hex digits.
pub fn random_sid(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().r#gen();
    format!("{prefix}{n:032x}")
}

/// One call, with consistent SIDs and numbers across every webhook it produces.
#[derive(Debug, Clone)]
pub struct SimulatedCall {
    pub call_sid: String,
    pub child_call_sid: String,
    pub recording_sid: String,
    pub from: String,
    pub to: String,
    pub forward_to: String,
}

impl SimulatedCall {
    pub fn new(from: &str, to: &str, forward_to: &str) -> Self {
        Self {
            call_sid: random_sid("CA"),
            child_call_sid: random_sid("CA"),
            recording_sid: random_sid("RE"),
            from: from.to_owned(),
            to: to.to_owned(),
            forward_to: forward_to.to_owned(),
        }
    }

    /// The incoming-call webhook.
    pub fn voice(&self) -> FormPairs {
        let mut form = Fixture::VoiceIncoming.form();
        self.fill_parent(&mut form);
        form
    }

    /// A `<Number statusCallback>` callback of the forwarded leg.
    pub fn child_status(&self, fixture: Fixture, at: DateTime<Utc>) -> FormPairs {
        let mut form = fixture.form();
        set_existing(&mut form, "CallSid", &self.child_call_sid);
        set_existing(&mut form, "ParentCallSid", &self.call_sid);
        self.fill_caller(&mut form);
        for key in ["To", "Called"] {
            set_existing(&mut form, key, &self.forward_to);
        }
        set_existing(&mut form, "Timestamp", &at.to_rfc2822());
        form
    }

    /// A forwarded leg that was answered and lasted `talk_seconds`.
    pub fn child_completed(&self, talk_seconds: u32, at: DateTime<Utc>) -> FormPairs {
        let mut form = self.child_status(Fixture::StatusChildCompleted, at);
        set_existing(&mut form, "CallDuration", &talk_seconds.to_string());
        set_existing(
            &mut form,
            "Duration",
            &talk_seconds.div_ceil(60).to_string(),
        );
        form
    }

    /// The number's own status callback when the whole call ends.
    pub fn parent_completed(&self, duration_seconds: u32, at: DateTime<Utc>) -> FormPairs {
        let mut form = Fixture::StatusParentCompleted.form();
        self.fill_parent(&mut form);
        set_existing(&mut form, "CallDuration", &duration_seconds.to_string());
        set_existing(
            &mut form,
            "Duration",
            &duration_seconds.div_ceil(60).to_string(),
        );
        set_existing(&mut form, "Timestamp", &at.to_rfc2822());
        form
    }

    /// The `<Dial action>` callback: `completed` with the talk time, or a missed outcome.
    pub fn dial_action(&self, dial_status: &str, talk_seconds: u32, recorded: bool) -> FormPairs {
        let mut form = Fixture::DialActionCompleted.form();
        self.fill_parent(&mut form);
        set_existing(&mut form, "DialCallSid", &self.child_call_sid);
        set_existing(&mut form, "DialCallStatus", dial_status);
        set_existing(&mut form, "DialCallDuration", &talk_seconds.to_string());
        if recorded {
            set_existing(&mut form, "RecordingSid", &self.recording_sid);
            set_existing(&mut form, "RecordingUrl", &self.recording_url());
            set_existing(
                &mut form,
                "RecordingDuration",
                &talk_seconds.saturating_sub(1).to_string(),
            );
        } else {
            for key in ["RecordingSid", "RecordingUrl", "RecordingDuration"] {
                form.remove(key);
            }
        }
        form
    }

    /// The recording status callback of the dual-channel recording.
    pub fn recording(&self, duration_seconds: u32) -> FormPairs {
        let mut form = Fixture::RecordingCompleted.form();
        set_existing(&mut form, "CallSid", &self.call_sid);
        set_existing(&mut form, "RecordingSid", &self.recording_sid);
        set_existing(&mut form, "RecordingUrl", &self.recording_url());
        set_existing(
            &mut form,
            "RecordingDuration",
            &duration_seconds.to_string(),
        );
        form
    }

    pub fn recording_url(&self) -> String {
        let account = Fixture::RecordingCompleted
            .form()
            .get("AccountSid")
            .unwrap_or_default()
            .to_owned();
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{}",
            self.recording_sid
        )
    }

    fn fill_parent(&self, form: &mut FormPairs) {
        set_existing(form, "CallSid", &self.call_sid);
        self.fill_caller(form);
        for key in ["To", "Called"] {
            set_existing(form, key, &self.to);
        }
    }

    fn fill_caller(&self, form: &mut FormPairs) {
        for key in ["From", "Caller"] {
            set_existing(form, key, &self.from);
        }
    }
}

/// A message status callback of the reward SMS `message_sid` sent to `to`, with `status`
/// (`sent`, `delivered`, `undelivered`, ...) and Twilio's `ErrorCode` for a failure.
pub fn sms_status(message_sid: &str, to: &str, status: &str, error_code: Option<i32>) -> FormPairs {
    let mut form = Fixture::SmsStatusDelivered.form();
    for key in ["MessageSid", "SmsSid"] {
        set_existing(&mut form, key, message_sid);
    }
    for key in ["MessageStatus", "SmsStatus"] {
        set_existing(&mut form, key, status);
    }
    set_existing(&mut form, "To", to);
    // Twilio reports the carrier's completion time only once the carrier is done.
    if !matches!(status, "delivered" | "undelivered" | "failed") {
        form.remove("RawDlrDoneDate");
    }
    if let Some(code) = error_code {
        form.set("ErrorCode", code.to_string());
    }
    form
}

/// Rewrites a field the fixture has, keeping the fixture's field set exactly.
fn set_existing(form: &mut FormPairs, key: &str, value: &str) {
    if form.get(key).is_some() {
        form.set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryReport;
    use crate::twilio::payloads::{
        DialAction, RecordingCallback, SmsStatusCallback, StatusCallback, VoiceRequest,
    };

    const ALL: [Fixture; 9] = [
        Fixture::VoiceIncoming,
        Fixture::StatusChildInitiated,
        Fixture::StatusChildRinging,
        Fixture::StatusChildAnswered,
        Fixture::StatusChildCompleted,
        Fixture::StatusChildNoAnswer,
        Fixture::StatusParentCompleted,
        Fixture::DialActionCompleted,
        Fixture::RecordingCompleted,
    ];

    #[test]
    fn every_fixture_parses_strictly_and_has_the_account() {
        for fixture in ALL {
            let form = FormPairs::parse(fixture.source().trim().as_bytes()).unwrap();
            assert!(
                form.get("AccountSid").is_some_and(|a| a.starts_with("AC")),
                "{fixture:?}"
            );
            assert!(
                form.pairs().len() >= 10,
                "{fixture:?} is missing Twilio's fields"
            );
        }
    }

    #[test]
    fn the_sms_status_fixture_parses_strictly_and_rewrites_consistently() {
        let source = Fixture::SmsStatusDelivered.source().trim();
        let form = FormPairs::parse(source.as_bytes()).unwrap();
        assert!(form.get("AccountSid").is_some_and(|a| a.starts_with("AC")));
        let callback = SmsStatusCallback::from_form(&form).unwrap();
        assert_eq!(callback.report, DeliveryReport::Delivered);

        let sid = random_sid("SM");
        let sent = sms_status(&sid, "+14155550123", "sent", None);
        assert_eq!(sent.get("SmsSid"), Some(sid.as_str()));
        assert_eq!(sent.get("SmsStatus"), Some("sent"));
        assert_eq!(sent.get("RawDlrDoneDate"), None);
        let callback = SmsStatusCallback::from_form(&sent).unwrap();
        assert_eq!(callback.message_sid.as_str(), sid);
        assert_eq!(callback.report, DeliveryReport::InFlight);
    }

    #[test]
    fn a_simulated_call_produces_payloads_that_parse_and_agree() {
        let call = SimulatedCall::new("+14155550100", "+18005550123", "+14155550199");
        let voice = VoiceRequest::from_form(&call.voice()).unwrap();
        assert_eq!(voice.call_sid.as_str(), call.call_sid);
        let child = StatusCallback::from_form(&call.child_completed(42, Utc::now())).unwrap();
        assert_eq!(child.session_call_sid().as_str(), call.call_sid);
        assert_eq!(child.duration_seconds, Some(42));
        let dial = DialAction::from_form(&call.dial_action("completed", 42, true)).unwrap();
        assert_eq!(dial.call_sid.as_str(), call.call_sid);
        let recording = RecordingCallback::from_form(&call.recording(41)).unwrap();
        assert_eq!(recording.recording_sid, call.recording_sid);
    }
}
