use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::{Duration, TimeZone, Utc};

use crate::helpers::TestApp;

fn at(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap() + Duration::seconds(seconds)
}

/// The callbacks of an answered call, in the order Twilio sends them.
fn answered_call(call: &SimulatedCall) -> Vec<(&'static str, FormPairs)> {
    vec![
        (
            "/twilio/status",
            call.child_status(Fixture::StatusChildInitiated, at(1)),
        ),
        (
            "/twilio/status",
            call.child_status(Fixture::StatusChildRinging, at(2)),
        ),
        (
            "/twilio/status",
            call.child_status(Fixture::StatusChildAnswered, at(5)),
        ),
        ("/twilio/status", call.child_completed(42, at(47))),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 42, true),
        ),
        ("/twilio/status", call.parent_completed(48, at(48))),
    ]
}

async fn play(app: &TestApp, steps: &[(&'static str, FormPairs)]) {
    for (path, form) in steps {
        let response = app.post_signed(path, form).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

async fn assert_answered_call_recorded(app: &TestApp, call: &SimulatedCall) {
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "completed");
    assert_eq!(session["call_duration_seconds"], 48);
    assert_eq!(session["talk_seconds"], 42);
    assert!(session["call_answered_at"].is_string(), "{session}");
    assert!(session["call_ended_at"].is_string(), "{session}");
    assert_eq!(
        app.count("SELECT count(*) FROM call_sessions").await,
        1,
        "a child leg gets no session"
    );
}

#[tokio::test]
async fn callbacks_in_order_walk_the_call_to_completed() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;

    play(&app, &answered_call(&call)).await;

    assert_answered_call_recorded(&app, &call).await;
    let session = app.session(&call.call_sid).await;
    assert_eq!(
        session["call_answered_at"],
        serde_json::json!("2026-11-25T15:00:05+00:00")
    );
    assert_eq!(
        session["call_ended_at"],
        serde_json::json!("2026-11-25T15:00:48+00:00")
    );
}

#[tokio::test]
async fn callbacks_in_reverse_order_end_in_the_same_state() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;
    let mut steps = answered_call(&call);
    steps.reverse();

    play(&app, &steps).await;

    assert_answered_call_recorded(&app, &call).await;
}

#[tokio::test]
async fn duplicated_callbacks_change_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;
    let steps = answered_call(&call);
    play(&app, &steps).await;
    let before = app.session(&call.call_sid).await;

    play(&app, &steps).await;
    let late_ringing = vec![(
        "/twilio/status",
        call.child_status(Fixture::StatusChildRinging, at(99)),
    )];
    play(&app, &late_ringing).await;

    let mut after = app.session(&call.call_sid).await;
    after["updated_at"] = before["updated_at"].clone();
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_child_leg_status_moves_its_parent_session() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;

    play(
        &app,
        &[(
            "/twilio/status",
            call.child_status(Fixture::StatusChildAnswered, at(5)),
        )],
    )
    .await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "in-progress");
    assert_eq!(
        session["call_answered_at"],
        serde_json::json!("2026-11-25T15:00:05+00:00")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'",
            call.child_call_sid
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn an_unanswered_forward_is_a_missed_call_whatever_order_the_callbacks_come_in() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let first = app.start_call("+14155550100").await;
    let second = app.start_call("+14155550101").await;
    let steps = |call: &SimulatedCall| {
        vec![
            (
                "/twilio/status",
                call.child_status(Fixture::StatusChildRinging, at(2)),
            ),
            (
                "/twilio/status",
                call.child_status(Fixture::StatusChildNoAnswer, at(30)),
            ),
            (
                "/twilio/dial-complete",
                call.dial_action("no-answer", 0, false),
            ),
            ("/twilio/status", call.parent_completed(31, at(31))),
        ]
    };

    play(&app, &steps(&first)).await;
    let mut reversed = steps(&second);
    reversed.reverse();
    play(&app, &reversed).await;

    for call in [&first, &second] {
        let session = app.session(&call.call_sid).await;
        assert_eq!(session["call_status"], "no-answer", "{session}");
        assert_eq!(session["call_answered_at"], serde_json::Value::Null);
        assert_eq!(session["call_duration_seconds"], 31);
    }
}

#[tokio::test]
async fn a_status_callback_for_an_unknown_call_is_acknowledged_and_ignored() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let stranger = SimulatedCall::new("+14155550100", "+18005550123", "+14155550199");

    for (path, form) in [
        ("/twilio/status", stranger.parent_completed(10, at(10))),
        (
            "/twilio/status",
            stranger.child_status(Fixture::StatusChildAnswered, at(3)),
        ),
        (
            "/twilio/dial-complete",
            stranger.dial_action("completed", 9, false),
        ),
    ] {
        let response = app.post_signed(path, &form).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
}

#[tokio::test]
async fn the_dial_action_answers_with_a_hangup_and_fills_talk_time() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;

    let response = app
        .post_signed(
            "/twilio/dial-complete",
            &call.dial_action("completed", 37, true),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<Hangup/>"));
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "completed");
    assert_eq!(session["talk_seconds"], 37);
    assert!(session["call_answered_at"].is_string());
}
