//! The call flow of a tracked number: a whisper the business must accept with a key, and the
//! voicemail a caller reaches when the business does not take the call.

use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::Utc;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

const WHISPER: &str = "Call from the spring mailer.";

async fn app_with(flow_sql: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.db
        .execute(&format!("UPDATE tracked_phone_numbers SET {flow_sql}"), &[])
        .await
        .unwrap();
    app
}

/// The URL inside `attribute="..."` of `twiml`, unescaped and relative to the public base.
pub(crate) fn url_in(twiml: &str, attribute: &str) -> String {
    let start = twiml.find(&format!("{attribute}=\"")).expect(attribute) + attribute.len() + 2;
    let end = start + twiml[start..].find('"').unwrap();
    twiml[start..end]
        .replace("&amp;", "&")
        .trim_start_matches(crate::helpers::PUBLIC_BASE_URL)
        .to_owned()
}

fn child_form(call: &SimulatedCall, status: &str) -> FormPairs {
    let mut form = call.child_status(Fixture::StatusChildRinging, Utc::now());
    form.set("CallStatus", status);
    form
}

async fn text(app: &TestApp, path: &str, form: &FormPairs) -> String {
    let response = app.post_signed(path, form).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_screened_call_is_answered_only_when_the_business_presses_a_key() {
    let app = app_with(&format!("whisper = '{WHISPER}'")).await;
    app.wait_for_routing(WHISPER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let forward = text(&app, "/twilio/voice", &call.voice()).await;
    let screen_path = url_in(&forward, "url");
    assert!(
        screen_path.starts_with("/twilio/screen?number=%2B18005550123&parent=CA"),
        "{forward}"
    );
    let screen = text(&app, &screen_path, &child_form(&call, "in-progress")).await;
    assert!(
        screen.contains(WHISPER) && screen.contains("<Gather"),
        "{screen}"
    );
    app.post_signed("/twilio/status", &child_form(&call, "in-progress"))
        .await;
    assert!(
        app.session(&call.call_sid).await["call_answered_at"].is_null(),
        "the pick-up alone is not a person"
    );

    let accept_path = url_in(&screen, "action");
    let mut pressed = child_form(&call, "in-progress");
    pressed.set("Digits", "1");
    let accepted = text(&app, &accept_path, &pressed).await;
    app.post_signed("/twilio/status", &call.child_completed(40, Utc::now()))
        .await;
    let after = text(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("completed", 40, false),
    )
    .await;
    app.post_signed("/twilio/status", &call.parent_completed(48, Utc::now()))
        .await;

    assert!(accepted.contains("<Response/>"), "{accepted}");
    assert!(
        after.contains("<Hangup/>"),
        "a call the business took needs no voicemail: {after}"
    );
    let session = app.session(&call.call_sid).await;
    assert!(!session["call_answered_at"].is_null());
    assert_eq!(session["call_outcome"], "answered");
    assert_eq!(session["screened"], true);
}

#[tokio::test]
async fn a_screened_call_nobody_accepts_goes_to_voicemail_and_is_counted_as_voicemail() {
    let app = app_with(&format!(
        "whisper = '{WHISPER}', voicemail_greeting = 'Acme Roofing. Leave a message.'"
    ))
    .await;
    app.wait_for_routing("Acme Roofing. Leave a message.").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    text(&app, "/twilio/voice", &call.voice()).await;
    // The business's own voicemail picked up the leg, heard the whisper, pressed nothing.
    app.post_signed("/twilio/status", &child_form(&call, "in-progress"))
        .await;
    app.post_signed("/twilio/status", &call.child_completed(9, Utc::now()))
        .await;

    let after = text(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("completed", 9, false),
    )
    .await;
    assert!(
        after.contains("Acme Roofing. Leave a message.") && after.contains("<Record"),
        "{after}"
    );
    let before_message = app.session(&call.call_sid).await;
    assert_eq!(before_message["call_outcome"], "missed");

    let mut message = call.recording(14);
    message.set("RecordingSid", "RE99999999999999999999999999999999");
    let stored = app
        .post_signed(&url_in(&after, "recordingStatusCallback"), &message)
        .await;
    let done = text(&app, &url_in(&after, "action"), &call.voice()).await;
    app.post_signed("/twilio/status", &call.parent_completed(30, Utc::now()))
        .await;

    assert_eq!(stored.status(), 204);
    assert!(done.contains("<Hangup/>"));
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_outcome"], "voicemail");
    assert!(session["call_answered_at"].is_null());
    assert_eq!(session["voicemail_url"], call.recording_url());
    assert_eq!(
        session["voicemail_sid"],
        "RE99999999999999999999999999999999"
    );
    assert_eq!(session["voicemail_duration"], 14);
    assert!(
        session["recording_sid"].is_null(),
        "a voicemail is not the call's recording"
    );
}

#[tokio::test]
async fn an_unanswered_forward_offers_voicemail_unless_the_number_switched_it_off() {
    let app = app_with("voicemail = true").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    text(&app, "/twilio/voice", &call.voice()).await;
    app.wait_for_routing(TRACKED_NUMBER).await;

    let after = text(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("no-answer", 0, false),
    )
    .await;
    assert!(
        after.contains(calltrack::domain::DEFAULT_VOICEMAIL_GREETING),
        "{after}"
    );
    app.post_signed("/twilio/status", &call.parent_completed(25, Utc::now()))
        .await;
    assert_eq!(
        app.session(&call.call_sid).await["call_outcome"],
        "missed",
        "no message left"
    );

    app.db
        .execute("UPDATE tracked_phone_numbers SET voicemail = false", &[])
        .await
        .unwrap();
    app.wait_for_routing("\"voicemail\":false").await;
    let second = SimulatedCall::new("+14155550101", TRACKED_NUMBER, FORWARD_TO);
    text(&app, "/twilio/voice", &second.voice()).await;
    let after = text(
        &app,
        "/twilio/dial-complete",
        &second.dial_action("busy", 0, false),
    )
    .await;
    assert!(
        after.contains("<Hangup/>") && !after.contains("<Record"),
        "{after}"
    );
}

#[tokio::test]
async fn outside_business_hours_a_call_goes_straight_to_voicemail_and_is_still_recorded() {
    // Open only on a day that is not today in Chicago, so closed now whatever the date.
    let tomorrow = (Utc::now().with_timezone(&chrono_tz::America::Chicago)
        + chrono::Duration::days(1))
    .format("%a")
    .to_string()
    .to_lowercase();
    let hours = serde_json::json!({
        "timezone": "America/Chicago",
        "weekly": { tomorrow: [["00:00", "00:01"]] }
    });
    let app = app_with(&format!("business_hours = '{hours}'")).await;
    app.wait_for_routing("America/Chicago").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let answer = text(&app, "/twilio/voice", &call.voice()).await;

    assert!(
        answer.contains("<Record") && !answer.contains("<Dial"),
        "{answer}"
    );
    assert_eq!(
        app.session(&call.call_sid).await["match_status"],
        "unmatched"
    );

    app.db
        .execute("UPDATE tracked_phone_numbers SET voicemail = false", &[])
        .await
        .unwrap();
    app.wait_for_routing("\"voicemail\":false").await;
    let later = SimulatedCall::new("+14155550101", TRACKED_NUMBER, FORWARD_TO);
    let answer = text(&app, "/twilio/voice", &later.voice()).await;
    assert!(
        answer.contains("<Hangup/>") && !answer.contains("<Record") && !answer.contains("<Dial"),
        "{answer}"
    );
}
