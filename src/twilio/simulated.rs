//! Realistic webhook bodies from `fixtures/`, with every field Twilio sends, rewritten for
//! one simulated call: what `calltrack simulate` and the demo send, and what the lab's benchmark,
//! soak and tests play Twilio's side with.

use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::domain::CallerId;
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
    /// A caller who withheld the number: `From=anonymous` and no geography for the caller.
    VoiceAnonymous,
    /// A London caller: `+44` number, `FromCountry=GB`, a gateway's STIR attestation (C).
    VoiceInternational,
    /// A call forwarded to the tracked number by another line (`ForwardedFrom`).
    VoiceForwarded,
    /// A call to a number with caller-name lookup on (`CallerName`, CNAM-style capitals).
    VoiceCallerName,
    /// A call with Marketplace add-on results (`AddOns`, a JSON string) and `StirVerstat`.
    VoiceAddOns,
    /// The forwarded leg ended because the caller hung up while it rang.
    StatusChildCanceled,
    /// The screening `<Gather>`'s action on the forwarded leg: the business pressed 1.
    ScreenGatherDigits,
    /// The voicemail `<Record>`'s action: the caller hung up after the message.
    VoicemailRecordAction,
    /// The voicemail `<Record>`'s recording status callback (on the parent, mono).
    VoicemailRecording,
    /// A message status callback of an SMS sent through a Messaging Service.
    SmsStatusMessagingService,
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
            Self::VoiceAnonymous => include_str!("../../fixtures/voice_anonymous.form"),
            Self::VoiceInternational => include_str!("../../fixtures/voice_international.form"),
            Self::VoiceForwarded => include_str!("../../fixtures/voice_forwarded.form"),
            Self::VoiceCallerName => include_str!("../../fixtures/voice_caller_name.form"),
            Self::VoiceAddOns => include_str!("../../fixtures/voice_add_ons.form"),
            Self::StatusChildCanceled => include_str!("../../fixtures/status_child_canceled.form"),
            Self::ScreenGatherDigits => include_str!("../../fixtures/screen_gather_digits.form"),
            Self::VoicemailRecordAction => {
                include_str!("../../fixtures/voicemail_record_action.form")
            }
            Self::VoicemailRecording => include_str!("../../fixtures/voicemail_recording.form"),
            Self::SmsStatusMessagingService => {
                include_str!("../../fixtures/sms_status_messaging_service.form")
            }
        }
    }

    /// Every fixture.
    pub const ALL: [Self; 20] = [
        Self::VoiceIncoming,
        Self::StatusChildInitiated,
        Self::StatusChildRinging,
        Self::StatusChildAnswered,
        Self::StatusChildCompleted,
        Self::StatusChildNoAnswer,
        Self::StatusParentCompleted,
        Self::DialActionCompleted,
        Self::RecordingCompleted,
        Self::SmsStatusDelivered,
        Self::VoiceAnonymous,
        Self::VoiceInternational,
        Self::VoiceForwarded,
        Self::VoiceCallerName,
        Self::VoiceAddOns,
        Self::StatusChildCanceled,
        Self::ScreenGatherDigits,
        Self::VoicemailRecordAction,
        Self::VoicemailRecording,
        Self::SmsStatusMessagingService,
    ];

    /// The voice-webhook fixtures: bodies Twilio posts to `/twilio/voice`.
    pub const VOICE: [Self; 6] = [
        Self::VoiceIncoming,
        Self::VoiceAnonymous,
        Self::VoiceInternational,
        Self::VoiceForwarded,
        Self::VoiceCallerName,
        Self::VoiceAddOns,
    ];

    /// The body exactly as recorded, percent-encoding and all.
    pub fn raw(self) -> &'static str {
        self.source().trim()
    }

    /// The fixture's fields as Twilio sent them.
    pub fn form(self) -> FormPairs {
        // The fixtures are checked by a test, so a broken file fails there, not here.
        FormPairs::parse(self.raw().as_bytes()).unwrap_or_default()
    }

    /// The caller of a voice fixture, as Twilio sent `From`.
    pub fn caller(self) -> String {
        self.form().get("From").unwrap_or_default().to_owned()
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
    /// The caller's message, when the call ends in calltrack's voicemail.
    pub voicemail_sid: String,
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
            voicemail_sid: random_sid("RE"),
            from: from.to_owned(),
            to: to.to_owned(),
            forward_to: forward_to.to_owned(),
        }
    }

    /// A call whose caller is the one `fixture` records (`anonymous`, a `+44` number, ...).
    pub fn from_fixture(fixture: Fixture, to: &str, forward_to: &str) -> Self {
        Self::new(&fixture.caller(), to, forward_to)
    }

    /// The incoming-call webhook.
    pub fn voice(&self) -> FormPairs {
        self.voice_as(Fixture::VoiceIncoming)
    }

    /// The incoming-call webhook as one of the voice fixtures (a withheld caller, a forwarded
    /// call, add-on results, ...), with this call's SIDs and numbers.
    pub fn voice_as(&self, fixture: Fixture) -> FormPairs {
        let mut form = fixture.form();
        self.fill_parent(&mut form);
        form
    }

    /// The incoming-call webhook as Twilio sends it for this caller: the withheld-caller body
    /// for `anonymous` (and Twilio's other stand-ins), the international one with the caller's
    /// country for a number outside the US, the usual one otherwise.
    pub fn voice_for_caller(&self) -> FormPairs {
        let number = match CallerId::parse(&self.from) {
            CallerId::Withheld => return self.voice_as(Fixture::VoiceAnonymous),
            CallerId::Number(number) => number,
        };
        let country = phonenumber::parse(None, number.as_str())
            .ok()
            .and_then(|n| n.country().id());
        match country {
            Some(id) if id.as_ref() != "US" => {
                let mut form = self.voice_as(Fixture::VoiceInternational);
                for key in ["FromCountry", "CallerCountry"] {
                    set_existing(&mut form, key, id.as_ref());
                }
                form
            }
            _ => self.voice(),
        }
    }

    /// A `<Number statusCallback>` callback of the forwarded leg.
    pub fn child_status(&self, fixture: Fixture, at: DateTime<Utc>) -> FormPairs {
        let mut form = fixture.form();
        self.fill_child(&mut form);
        set_existing(&mut form, "Timestamp", &at.to_rfc2822());
        form
    }

    /// The forwarded leg ended `canceled`: the caller hung up while it rang.
    pub fn child_canceled(&self, at: DateTime<Utc>) -> FormPairs {
        self.child_status(Fixture::StatusChildCanceled, at)
    }

    /// What Twilio posts to the `<Number url>` when the business picks up: the forwarded
    /// leg's own call parameters, asking for the TwiML to play to the business.
    pub fn screen_request(&self) -> FormPairs {
        let mut form = Fixture::ScreenGatherDigits.form();
        self.fill_child(&mut form);
        for key in ["Digits", "FinishedOnKey", "msg"] {
            form.remove(key);
        }
        form
    }

    /// The screening `<Gather>`'s action: the business pressed `digits`.
    pub fn screen_accept(&self, digits: &str) -> FormPairs {
        let mut form = Fixture::ScreenGatherDigits.form();
        self.fill_child(&mut form);
        form.set("Digits", digits);
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
        fill_recording(
            &mut form,
            &self.recording_sid,
            &self.recording_url(),
            duration_seconds,
        );
        form
    }

    /// The voicemail `<Record>`'s action, once the caller has left a `duration_seconds`
    /// message and hung up.
    pub fn voicemail_done(&self, duration_seconds: u32) -> FormPairs {
        let mut form = Fixture::VoicemailRecordAction.form();
        self.fill_parent(&mut form);
        fill_recording(
            &mut form,
            &self.voicemail_sid,
            &self.voicemail_url(),
            duration_seconds,
        );
        form
    }

    /// The recording status callback of the caller's voicemail message.
    pub fn voicemail_recording(&self, duration_seconds: u32) -> FormPairs {
        let mut form = Fixture::VoicemailRecording.form();
        set_existing(&mut form, "CallSid", &self.call_sid);
        fill_recording(
            &mut form,
            &self.voicemail_sid,
            &self.voicemail_url(),
            duration_seconds,
        );
        form
    }

    pub fn recording_url(&self) -> String {
        recording_url(&self.recording_sid)
    }

    pub fn voicemail_url(&self) -> String {
        recording_url(&self.voicemail_sid)
    }

    fn fill_child(&self, form: &mut FormPairs) {
        set_existing(form, "CallSid", &self.child_call_sid);
        set_existing(form, "ParentCallSid", &self.call_sid);
        self.fill_caller(form);
        for key in ["To", "Called"] {
            set_existing(form, key, &self.forward_to);
        }
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

/// Where Twilio keeps the recording `sid` of the fixtures' account.
fn recording_url(sid: &str) -> String {
    let account = Fixture::RecordingCompleted
        .form()
        .get("AccountSid")
        .unwrap_or_default()
        .to_owned();
    format!("https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}")
}

/// The recording fields of a recording callback or `<Record>` action.
fn fill_recording(form: &mut FormPairs, sid: &str, url: &str, duration_seconds: u32) {
    set_existing(form, "RecordingSid", sid);
    set_existing(form, "RecordingUrl", url);
    set_existing(form, "RecordingDuration", &duration_seconds.to_string());
}

/// A message status callback of the reward SMS `message_sid` sent to `to`, with `status`
/// (`sent`, `delivered`, `undelivered`, ...) and Twilio's `ErrorCode` for a failure.
pub fn sms_status(message_sid: &str, to: &str, status: &str, error_code: Option<i32>) -> FormPairs {
    sms_status_as(
        Fixture::SmsStatusDelivered,
        message_sid,
        to,
        status,
        error_code,
    )
}

/// Like [`sms_status`], for a message sent through the Messaging Service
/// `messaging_service_sid`: Twilio adds `MessagingServiceSid`, and `From` is the number the
/// service picked from its sender pool.
pub fn messaging_service_sms_status(
    message_sid: &str,
    messaging_service_sid: &str,
    to: &str,
    status: &str,
    error_code: Option<i32>,
) -> FormPairs {
    let mut form = sms_status_as(
        Fixture::SmsStatusMessagingService,
        message_sid,
        to,
        status,
        error_code,
    );
    set_existing(&mut form, "MessagingServiceSid", messaging_service_sid);
    form
}

fn sms_status_as(
    fixture: Fixture,
    message_sid: &str,
    to: &str,
    status: &str,
    error_code: Option<i32>,
) -> FormPairs {
    let mut form = fixture.form();
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
    use crate::domain::CallStatus;
    use crate::domain::DeliveryReport;
    use crate::twilio::payloads::{
        DialAction, RecordingCallback, ScreenAccept, SmsStatusCallback, StatusCallback,
        VoiceRequest,
    };

    #[test]
    fn every_fixture_parses_strictly_and_has_the_account() {
        for fixture in Fixture::ALL {
            let form = FormPairs::parse(fixture.raw().as_bytes()).unwrap();
            assert!(
                form.get("AccountSid").is_some_and(|a| a.starts_with("AC")),
                "{fixture:?}"
            );
            // A message status callback is the shortest body Twilio sends.
            let sms = matches!(
                fixture,
                Fixture::SmsStatusDelivered | Fixture::SmsStatusMessagingService
            );
            assert!(
                form.pairs().len() >= if sms { 9 } else { 10 },
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

    #[test]
    fn every_file_in_fixtures_is_a_registered_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let body = std::fs::read_to_string(&path).unwrap();
            assert!(
                Fixture::ALL.iter().any(|f| f.raw() == body.trim()),
                "{} is not in Fixture",
                path.display()
            );
            files += 1;
        }
        assert_eq!(files, Fixture::ALL.len());
    }

    #[test]
    fn every_voice_fixture_is_an_inbound_call_to_the_tracked_number() {
        for fixture in Fixture::VOICE {
            let voice = VoiceRequest::from_form(&fixture.form()).unwrap();
            assert!(voice.inbound, "{fixture:?}");
            assert_eq!(
                voice.to.map(|t| t.to_string()).as_deref(),
                Some("+18005550123"),
                "{fixture:?}"
            );
            assert_eq!(voice.status, CallStatus::Ringing, "{fixture:?}");
        }
    }

    #[test]
    fn the_callers_of_the_voice_fixtures_are_read_as_twilio_means_them() {
        let anonymous = VoiceRequest::from_form(&Fixture::VoiceAnonymous.form()).unwrap();
        assert_eq!(anonymous.caller, CallerId::Withheld);
        assert_eq!(anonymous.verstat, None);

        let london = VoiceRequest::from_form(&Fixture::VoiceInternational.form()).unwrap();
        assert_eq!(
            london.caller.number().map(|n| n.as_str()),
            Some("+442079460958")
        );
        assert_eq!(london.verstat.as_deref(), Some("TN-Validation-Passed-C"));

        for fixture in [
            Fixture::VoiceForwarded,
            Fixture::VoiceCallerName,
            Fixture::VoiceAddOns,
        ] {
            let voice = VoiceRequest::from_form(&fixture.form()).unwrap();
            assert_eq!(
                voice.caller.number().map(|n| n.as_str()),
                Some("+14155550100"),
                "{fixture:?}"
            );
            assert!(voice.verstat.is_some(), "{fixture:?}");
        }
    }

    #[test]
    fn a_simulated_call_picks_the_voice_body_twilio_sends_for_its_caller() {
        let body = |from: &str| SimulatedCall::new(from, "+18005550123", "").voice_for_caller();
        let withheld = body("anonymous");
        assert_eq!(withheld.get("FromCity"), None);
        assert_eq!(withheld.get("From"), Some("anonymous"));
        let paris = body("+33142685300");
        assert_eq!(paris.get("FromCountry"), Some("FR"));
        assert_eq!(paris.get("CallerCountry"), Some("FR"));
        assert_eq!(paris.get("From"), Some("+33142685300"));
        let local = body("+14155550100");
        assert_eq!(local.get("FromCity"), Some("SAN FRANCISCO"));
    }

    #[test]
    fn the_add_ons_field_is_the_json_twilio_sends_and_needs_escaping_on_the_wire() {
        let raw = Fixture::VoiceAddOns.raw();
        assert!(raw.contains("AddOns=%7B%22status%22"), "{raw}");
        let form = Fixture::VoiceAddOns.form();
        let add_ons: serde_json::Value = serde_json::from_str(form.get("AddOns").unwrap()).unwrap();
        assert_eq!(add_ons["status"], "successful");
        assert!(add_ons["results"]["nomorobo_spamscore"]["result"]["score"].is_number());
        assert_eq!(
            Fixture::VoiceCallerName.form().get("CallerName"),
            Some("O'BRIEN DANA")
        );
        assert_eq!(
            Fixture::VoiceForwarded.form().get("ForwardedFrom"),
            Some("+14155550142")
        );
    }

    #[test]
    fn the_call_flow_fixtures_parse_as_the_webhooks_they_are_posted_to() {
        let call = SimulatedCall::new("+14155550100", "+18005550123", "+14155550199");

        let canceled = StatusCallback::from_form(&call.child_canceled(Utc::now())).unwrap();
        assert_eq!(canceled.status, CallStatus::Canceled);
        assert_eq!(canceled.session_call_sid().as_str(), call.call_sid);
        assert_eq!(canceled.duration_seconds, Some(0));

        let pressed = call.screen_accept("1");
        assert_eq!(pressed.get("CallSid"), Some(call.child_call_sid.as_str()));
        let accept = ScreenAccept::from_form(&pressed).unwrap();
        assert!(accept.accepted);
        assert_eq!(accept.parent_call_sid.as_str(), call.call_sid);
        let asked = call.screen_request();
        assert_eq!(asked.get("Digits"), None);
        assert_eq!(asked.get("Direction"), Some("outbound-dial"));

        let message = call.voicemail_recording(14);
        assert_eq!(message.get("RecordingSource"), Some("RecordVerb"));
        assert_eq!(message.get("RecordingChannels"), Some("1"));
        let recording = RecordingCallback::from_form(&message).unwrap();
        assert_eq!(recording.call_sid.as_str(), call.call_sid);
        assert_eq!(recording.recording_sid, call.voicemail_sid);
        assert_eq!(
            recording.completed_url(),
            Some(call.voicemail_url().as_str())
        );
        assert_eq!(recording.duration_seconds, Some(14));

        let done = call.voicemail_done(14);
        assert_eq!(done.get("RecordingSid"), Some(call.voicemail_sid.as_str()));
        assert_eq!(done.get("Digits"), Some("hangup"));
    }

    #[test]
    fn a_messaging_service_status_callback_parses_with_or_without_a_sender() {
        let sid = random_sid("SM");
        let form = messaging_service_sms_status(
            &sid,
            "MG00000000000000000000000000000001",
            "+14155550123",
            "delivered",
            None,
        );
        assert_eq!(
            form.get("MessagingServiceSid"),
            Some("MG00000000000000000000000000000001")
        );
        let callback = SmsStatusCallback::from_form(&form).unwrap();
        assert_eq!(callback.message_sid.as_str(), sid);
        assert_eq!(callback.report, DeliveryReport::Delivered);

        // A message that failed before the service picked a sender has no From.
        let mut unsent = messaging_service_sms_status(
            &sid,
            "MG00000000000000000000000000000001",
            "+14155550123",
            "failed",
            Some(30008),
        );
        unsent.remove("From");
        let callback = SmsStatusCallback::from_form(&unsent).unwrap();
        assert!(callback.report.is_transient_failure());
    }
}
