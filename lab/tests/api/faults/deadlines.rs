//! A webhook answers within its deadline whatever the database does; a second auth token is
//! accepted during a rotation.

use std::time::{Duration, Instant};

use calltrack::twilio::simulated::SimulatedCall;

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
    let app = TestApp::builder()
        .env(&[("VOICE_DEADLINE_MS", "500")])
        .spawn()
        .await;
    app.seed_campaign().await;
    // A screening number: its dial action asks the database whether the call was accepted.
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET whisper = 'Mailer call.'",
            &[],
        )
        .await
        .unwrap();
    app.wait_for_routing("Mailer call.").await;
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
    let started = Instant::now();
    let dial = tokio::time::timeout(
        Duration::from_secs(5),
        app.post_signed(
            "/twilio/dial-complete",
            &answered.dial_action("completed", 20, false),
        ),
    )
    .await
    .expect("the dial action waited on the hung database");
    let dial_took = started.elapsed();

    let bound = Duration::from_millis(DEADLINE_MS + 500);
    assert!(voice_took < bound, "voice answered after {voice_took:?}");
    assert!(status_took < bound, "status answered after {status_took:?}");
    assert!(
        dial_took < bound,
        "dial action answered after {dial_took:?}"
    );
    assert_eq!(dial.status(), 200);
    // Failed open: the caller is forwarded and the callback is taken, both into the spool.
    assert_eq!(voice.status(), 200);
    assert!(voice.text().await.unwrap().contains("<Dial"));
    assert_eq!(status.status(), 204);

    drop(lock);
    // Once the database answers again, the spool is replayed into it.
    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM call_sessions", 2, 10)
            .await,
        2,
        "one session per call, none lost to the timeout"
    );
    assert_eq!(
        app.wait_for_count(
            &format!(
                "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}' AND call_status = 'completed'",
                answered.call_sid
            ),
            1,
            10
        )
        .await,
        1,
        "the spooled status callback was applied"
    );
}

#[tokio::test]
async fn webhooks_signed_with_the_secondary_token_are_accepted_during_a_rotation() {
    let app = TestApp::builder()
        .env(&[("TWILIO_AUTH_TOKEN_SECONDARY", "next-auth-token-0123")])
        .spawn()
        .await;
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
