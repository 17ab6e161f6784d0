//! A webhook answers within its deadline whatever the database does; a second auth token is
//! accepted during a rotation.

use std::time::{Duration, Instant};

use calltrack::tools::fixtures::SimulatedCall;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

const DEADLINE_MS: u64 = 500;

/// Holds `lock` on a table in a transaction of its own until the returned client is dropped.
async fn hold_lock(app: &TestApp, table: &str) -> tokio_postgres::Client {
    let client = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn a_hung_database_does_not_hold_webhooks_past_their_deadline() {
    let app = TestApp::spawn_with(&[("VOICE_DEADLINE_MS", "500")]).await;
    app.seed_campaign().await;
    let answered = app.start_call("+14155550100").await;
    let lock = hold_lock(&app, "call_sessions").await;

    let call = SimulatedCall::new("+14155550101", TRACKED_NUMBER, FORWARD_TO);
    let started = Instant::now();
    // Without a deadline these would wait for the lock forever; the test gives up at 5 s.
    let voice = tokio::time::timeout(
        Duration::from_secs(5),
        app.post_signed("/twilio/voice", &call.voice()),
    )
    .await
    .expect("the voice webhook waited on the hung database");
    let voice_took = started.elapsed();
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        app.post_signed(
            "/twilio/status",
            &answered.parent_completed(30, chrono::Utc::now()),
        ),
    )
    .await
    .expect("the status callback waited on the hung database");
    let status_took = started.elapsed();

    let bound = Duration::from_millis(DEADLINE_MS + 500);
    assert!(voice_took < bound, "voice answered after {voice_took:?}");
    assert!(status_took < bound, "status answered after {status_took:?}");
    // Until the fail-open routing lands, a timed-out webhook is a 5xx, so Twilio's fallback
    // takes the call instead of the caller waiting on a hung database.
    assert!(voice.status().is_server_error(), "{}", voice.status());
    assert!(status.status().is_server_error(), "{}", status.status());

    drop(lock);
    // Once the database answers again, Twilio's retry is taken as usual.
    let retried = app.post_signed("/twilio/voice", &call.voice()).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        app.count("SELECT count(*) FROM call_sessions").await,
        2,
        "one session per call, none lost to the timeout"
    );
}

#[tokio::test]
async fn webhooks_signed_with_the_secondary_token_are_accepted_during_a_rotation() {
    let app = TestApp::spawn_with(&[("TWILIO_AUTH_TOKEN_SECONDARY", "next-auth-token-0123")]).await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let form = call.voice();
    let url = format!("{}/twilio/voice", crate::helpers::PUBLIC_BASE_URL);
    let sign =
        |token: &str| calltrack::twilio::signature::compute(token.as_bytes(), &url, form.pairs());
    let with_next = app
        .post_form(
            "/twilio/voice",
            form.encode(),
            Some(&sign("next-auth-token-0123")),
        )
        .await;
    assert_eq!(with_next.status(), 200);
    let with_other = app
        .post_form(
            "/twilio/voice",
            form.encode(),
            Some(&sign("some-other-token")),
        )
        .await;
    assert_eq!(with_other.status(), 403);
    let with_primary = app.post_signed("/twilio/voice", &form).await;
    assert_eq!(with_primary.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
}
