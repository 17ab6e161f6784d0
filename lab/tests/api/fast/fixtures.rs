//! The recorded Twilio bodies of `fixtures/`, with every field Twilio sends, posted signed as
//! Twilio posts them: the callers Twilio describes in unusual ways, and the call-flow bodies
//! that settle a call's outcome.

use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall, messaging_service_sms_status};
use chrono::Utc;

use super::call_flow::url_in;
use crate::helpers::{FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp, sign};
use crate::world::Auth;

/// Posts the voice webhook `form` and checks the call was forwarded.
async fn forwarded(app: &TestApp, form: &FormPairs) -> String {
    let response = app.post_signed("/twilio/voice", form).await;
    assert_eq!(response.status(), 200);
    let twiml = response.text().await.unwrap();
    assert!(twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains(FORWARD_TO), "{twiml}");
    twiml
}

/// Posts `form` to `path` and checks Twilio would hear a success.
async fn accepted(app: &TestApp, path: &str, form: &FormPairs) -> String {
    let response = app.post_signed(path, form).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_anonymous_caller_is_forwarded_and_stored_unmatched_without_a_phone() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0100").await;
    let call = SimulatedCall::from_fixture(Fixture::VoiceAnonymous, TRACKED_NUMBER, FORWARD_TO);
    assert_eq!(call.from, "anonymous");

    forwarded(&app, &call.voice_as(Fixture::VoiceAnonymous)).await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["match_status"], "unmatched");
    assert!(session["caller_phone"].is_null(), "{session}");
    assert!(session["recipient_id"].is_null());
    assert!(session["caller_verstat"].is_null());
}

#[tokio::test]
async fn an_international_caller_is_stored_in_e164_and_matched_to_a_recipient_typed_with_spaces() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let recipient = app.seed_recipient(&campaign, "+44 20 7946 0958").await;
    let call = SimulatedCall::from_fixture(Fixture::VoiceInternational, TRACKED_NUMBER, FORWARD_TO);

    forwarded(&app, &call.voice_as(Fixture::VoiceInternational)).await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["caller_phone"], "+442079460958");
    assert_eq!(session["match_status"], "matched");
    assert_eq!(session["recipient_id"], recipient.to_string());
    assert_eq!(session["caller_verstat"], "TN-Validation-Passed-C");
}

#[tokio::test]
async fn forwarded_calls_caller_names_and_add_on_results_are_signed_and_read_like_any_call() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "415.555.0100").await;

    for fixture in [
        Fixture::VoiceForwarded,
        Fixture::VoiceCallerName,
        Fixture::VoiceAddOns,
    ] {
        let call = SimulatedCall::from_fixture(fixture, TRACKED_NUMBER, FORWARD_TO);
        forwarded(&app, &call.voice_as(fixture)).await;

        let session = app.session(&call.call_sid).await;
        assert_eq!(session["caller_phone"], "+14155550100", "{fixture:?}");
        assert_eq!(session["match_status"], "matched", "{fixture:?}");
        assert_eq!(
            session["caller_verstat"].as_str(),
            fixture.form().get("StirVerstat"),
            "{fixture:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 3);
}

#[tokio::test]
async fn the_add_ons_body_posted_byte_for_byte_as_twilio_encoded_it_is_accepted_and_signed_whole() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let raw = Fixture::VoiceAddOns.raw();
    let url = format!("{PUBLIC_BASE_URL}/twilio/voice");
    let signature = sign(&url, &FormPairs::parse(raw.as_bytes()).unwrap());

    // The add-on results count for the signature like every other field.
    let altered = raw.replace("%22score%22%3A0", "%22score%22%3A9");
    assert_ne!(altered, raw);
    let refused = app
        .post_form("/twilio/voice", altered, Some(&signature))
        .await;
    assert_eq!(refused.status(), 403);

    let answer = app
        .post_form("/twilio/voice", raw.to_owned(), Some(&signature))
        .await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("<Dial"));
    let call_sid = Fixture::VoiceAddOns
        .form()
        .get("CallSid")
        .unwrap()
        .to_owned();
    let session = app.session(&call_sid).await;
    assert_eq!(session["caller_verstat"], "TN-Validation-Passed-A");
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
}

#[tokio::test]
async fn a_forwarded_leg_canceled_while_ringing_is_an_abandoned_call() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let t0 = Utc::now() - chrono::Duration::seconds(30);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);

    forwarded(&app, &call.voice()).await;
    for form in [
        call.child_status(Fixture::StatusChildInitiated, at(0)),
        call.child_status(Fixture::StatusChildRinging, at(1)),
        call.child_canceled(at(9)),
    ] {
        accepted(&app, "/twilio/status", &form).await;
    }
    let after = accepted(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("canceled", 0, false),
    )
    .await;
    accepted(&app, "/twilio/status", &call.parent_completed(10, at(10))).await;

    assert!(!after.contains("<Record"), "{after}");
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_outcome"], "abandoned");
    assert!(session["call_answered_at"].is_null());
    assert_eq!(session["call_duration_seconds"], 10);
}

#[tokio::test]
async fn a_message_left_after_an_unanswered_forward_makes_the_call_a_voicemail_with_its_url() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    forwarded(&app, &call.voice()).await;
    accepted(
        &app,
        "/twilio/status",
        &call.child_status(Fixture::StatusChildNoAnswer, Utc::now()),
    )
    .await;
    let after = accepted(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("no-answer", 0, false),
    )
    .await;
    assert!(after.contains("<Record"), "{after}");
    let done = accepted(&app, &url_in(&after, "action"), &call.voicemail_done(14)).await;
    accepted(
        &app,
        "/twilio/status",
        &call.parent_completed(45, Utc::now()),
    )
    .await;
    let stored = app
        .post_signed(
            &url_in(&after, "recordingStatusCallback"),
            &call.voicemail_recording(14),
        )
        .await;

    assert!(done.contains("<Hangup/>"), "{done}");
    assert_eq!(stored.status(), 204);
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_outcome"], "voicemail");
    assert_eq!(session["voicemail_url"], call.voicemail_url());
    assert_eq!(session["voicemail_sid"], call.voicemail_sid);
    assert_eq!(session["voicemail_duration"], 14);
    assert!(session["call_answered_at"].is_null());
}

#[tokio::test]
async fn the_screening_gathers_key_press_as_twilio_posts_it_answers_a_screened_call() {
    const WHISPER: &str = "Call from the autumn mailer.";
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.db
        .execute(
            &format!("UPDATE tracked_phone_numbers SET whisper = '{WHISPER}'"),
            &[],
        )
        .await
        .unwrap();
    app.wait_for_routing(WHISPER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let forward = forwarded(&app, &call.voice()).await;
    accepted(
        &app,
        "/twilio/status",
        &call.child_status(Fixture::StatusChildAnswered, Utc::now()),
    )
    .await;
    let screen = accepted(&app, &url_in(&forward, "url"), &call.screen_request()).await;
    assert!(screen.contains("<Gather"), "{screen}");
    let connected = accepted(&app, &url_in(&screen, "action"), &call.screen_accept("1")).await;
    accepted(
        &app,
        "/twilio/status",
        &call.child_completed(40, Utc::now()),
    )
    .await;
    accepted(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("completed", 40, false),
    )
    .await;
    accepted(
        &app,
        "/twilio/status",
        &call.parent_completed(48, Utc::now()),
    )
    .await;

    assert!(connected.contains("<Response/>"), "{connected}");
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_outcome"], "answered");
    assert_eq!(session["screened"], true);
    assert!(!session["call_answered_at"].is_null());
}

#[tokio::test]
async fn a_messaging_service_senders_delivery_report_marks_the_reward_delivered() {
    const SERVICE: &str = "MG2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c";
    const SID: &str = "SM9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
    let app = TestApp::builder()
        .env(&[("TWILIO_MESSAGING_SERVICE_SID", SERVICE)])
        .spawn()
        .await;
    let world = app.world(1).await;
    // Twilio's answer for a Messaging Service message: accepted, no sender picked yet.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/Messages\.json$"))
        .respond_with(
            wiremock::ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "account_sid": "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c",
                "api_version": "2010-04-01",
                "direction": "outbound-api",
                "from": null,
                "messaging_service_sid": SERVICE,
                "num_segments": "0",
                "sid": SID,
                "status": "accepted",
                "to": "+14155550100",
            })),
        )
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201, "{body}");
    let sent = "SELECT count(*) FROM call_conditions_met WHERE delivery_status = 'sent'";
    assert_eq!(app.wait_for_count(sent, 1, 20).await, 1, "never sent");
    let requests = app.twilio.received_requests().await.unwrap();
    let request = FormPairs::parse(&requests[0].body).unwrap();
    assert_eq!(request.get("MessagingServiceSid"), Some(SERVICE));
    assert_eq!(request.get("From"), None);

    let report = messaging_service_sms_status(SID, SERVICE, "+14155550100", "delivered", None);
    let response = app.post_signed("/twilio/sms-status", &report).await;

    assert_eq!(response.status(), 204);
    let delivered = "SELECT count(*) FROM call_conditions_met WHERE delivery_status = 'delivered'";
    assert_eq!(app.wait_for_count(delivered, 1, 5).await, 1);
    let card: String = app
        .db
        .query_one(
            "SELECT status FROM gift_cards WHERE pool_id = $1 AND recipient_id IS NOT NULL",
            &[&world.pool_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(card, "delivered");
}
