//! A webhook answers within its deadline whatever the database does, while the JSON API waits
//! for the database up to a deadline of its own and then says so in words; a second auth token
//! is accepted during a rotation.

use std::time::{Duration, Instant};

use calltrack::twilio::simulated::SimulatedCall;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};
use crate::world::Auth;

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

/// The webhooks' deadline in the API deadline tests, and the API's: three times as long.
const VOICE_MS: u64 = 1000;
const API_MS: u64 = 3000;

/// A server whose API waits three times as long for the database as its webhooks do.
async fn spawn_with_api_deadline() -> TestApp {
    TestApp::builder()
        .env(&[("VOICE_DEADLINE_MS", "1000"), ("API_DEADLINE_MS", "3000")])
        .spawn()
        .await
}

/// Posts the voice webhook of a new call while the database is blocked: its status, its
/// TwiML, and how long it took.
async fn call_during_the_block(app: &TestApp) -> (u16, String, Duration) {
    let call = SimulatedCall::new("+14155550102", TRACKED_NUMBER, FORWARD_TO);
    let started = Instant::now();
    let voice = tokio::time::timeout(
        Duration::from_secs(10),
        app.post_signed("/twilio/voice", &call.voice()),
    )
    .await
    .expect("the voice webhook waited on the blocked database");
    let took = started.elapsed();
    (voice.status().as_u16(), voice.text().await.unwrap(), took)
}

#[tokio::test]
async fn an_api_request_waits_past_the_webhook_deadline_while_a_webhook_in_the_same_block_fails_open()
 {
    let app = spawn_with_api_deadline().await;
    let world = app.world(0).await;
    let agent = Auth::user(world.agent);
    let lock = hold_lock(&app, "call_sessions").await;
    // Blocked twice as long as a webhook may wait, and a second less than the API may.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2 * VOICE_MS)).await;
        drop(lock);
    });

    let path = format!("/api/v1/call-sessions/{}", world.session_id);
    let (detail, (voice, twiml, voice_took)) =
        tokio::join!(app.api_get(&path, &agent), call_during_the_block(&app));
    release.await.unwrap();

    let (status, body) = detail;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], world.session_id.to_string());
    assert_eq!(voice, 200);
    assert!(twiml.contains("<Dial"), "{twiml}");
    let bound = Duration::from_millis(VOICE_MS + 500);
    assert!(
        voice_took < bound,
        "the webhook answered after {voice_took:?}"
    );
    // The call failed open into the spool, and lands once the block is gone.
    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM call_sessions", 2, 10)
            .await,
        2
    );
}

#[tokio::test]
async fn an_api_request_blocked_past_the_api_deadline_is_stopped_and_says_so_in_words() {
    let app = spawn_with_api_deadline().await;
    let world = app.world(0).await;
    let agent = Auth::user(world.agent);
    let lock = hold_lock(&app, "call_sessions").await;

    let path = format!("/api/v1/call-sessions/{}", world.session_id);
    let started = Instant::now();
    let (detail, (voice, twiml, voice_took)) = tokio::join!(
        async {
            let answer = tokio::time::timeout(Duration::from_secs(15), app.api_get(&path, &agent))
                .await
                .expect("the API request waited on the blocked database");
            (answer, started.elapsed())
        },
        call_during_the_block(&app)
    );
    drop(lock);

    let ((status, body), took) = detail;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_timeout", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the database did not answer within 3 s, so the request was stopped;"),
        "{message}"
    );
    assert!(message.contains("a shorter date range"), "{message}");
    assert!(!message.contains("try again;"), "{message}");
    let api_deadline = Duration::from_millis(API_MS);
    assert!(
        took >= api_deadline,
        "stopped before the API deadline, after {took:?}"
    );
    assert!(
        took < api_deadline + Duration::from_secs(1),
        "stopped long after the API deadline, after {took:?}"
    );
    assert_eq!(voice, 200);
    assert!(twiml.contains("<Dial"), "{twiml}");
    let bound = Duration::from_millis(VOICE_MS + 500);
    assert!(
        voice_took < bound,
        "the webhook answered after {voice_took:?}"
    );
}

#[tokio::test]
async fn an_api_request_to_an_unreachable_database_is_told_apart_from_a_slow_one() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable: tokio_postgres::Config =
        format!("postgres://postgres@127.0.0.1:{closed_port}/postgres")
            .parse()
            .unwrap();
    let test_database = crate::helpers::test_database().await;
    let app = TestApp::builder()
        .databases(unreachable, test_database)
        .tune(|settings| settings.start_connect_timeout = Duration::from_millis(300))
        .spawn()
        .await;

    let (status, body) = app
        .api_get("/api/v1/call-sessions", &Auth::user(uuid::Uuid::new_v4()))
        .await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    assert_eq!(
        body["error"]["message"],
        "the database cannot be reached right now; try again in a few minutes"
    );
}
