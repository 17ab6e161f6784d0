use crate::helpers::{AUTH_TOKEN, FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp};

async fn simulate(app: &TestApp, extra: &[&str]) -> std::process::Output {
    simulate_from(app, "+14155550100", extra).await
}

async fn simulate_from(app: &TestApp, from: &str, extra: &[&str]) -> std::process::Output {
    tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap())
        .args([
            "simulate",
            "call",
            "--to",
            TRACKED_NUMBER,
            "--from",
            from,
            "--url",
            &app.address,
        ])
        .args(extra)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_simulator_walks_an_answered_call_through_every_webhook() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0100").await;

    let output = simulate(&app, &["--duration", "42"]).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "/twilio/voice",
        "/twilio/status",
        "/twilio/dial-complete",
        "/twilio/recording",
        FORWARD_TO,
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    let row = app
        .db
        .query_one(
            "SELECT call_status, match_status, talk_seconds, recording_sid IS NOT NULL, call_answered_at IS NOT NULL
             FROM call_sessions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, String>(1), "matched");
    assert_eq!(row.get::<_, Option<i32>>(2), Some(42));
    assert!(row.get::<_, bool>(3), "the recording was stored");
    assert!(row.get::<_, bool>(4), "the call was answered");
    assert_eq!(the_outcome(&app).await.as_deref(), Some("answered"));
}

#[tokio::test]
async fn the_simulator_plays_a_missed_call() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;

    let output = simulate(&app, &["--no-answer"]).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: String = app
        .db
        .query_one("SELECT call_status FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "no-answer");
    assert_eq!(the_outcome(&app).await.as_deref(), Some("missed"));
}

/// The `call_outcome` of the one session.
async fn the_outcome(app: &TestApp) -> Option<String> {
    app.db
        .query_one("SELECT call_outcome FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0)
}

/// Runs the simulator with `extra` and checks it succeeded; its output.
async fn simulated(app: &TestApp, extra: &[&str]) -> String {
    let output = simulate(app, extra).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_simulator_plays_an_answered_outcome() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;

    simulated(&app, &["--outcome", "answered", "--duration", "20"]).await;

    assert_eq!(the_outcome(&app).await.as_deref(), Some("answered"));
    let talk: Option<i32> = app
        .db
        .query_one("SELECT talk_seconds FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(talk, Some(20));
}

#[tokio::test]
async fn the_simulator_plays_a_missed_outcome_the_caller_hanging_up_at_the_greeting() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;

    let stdout = simulated(&app, &["--outcome", "missed"]).await;

    assert!(
        stdout.contains("<Record"),
        "voicemail was offered:\n{stdout}"
    );
    assert!(!stdout.contains("POST /twilio/voicemail"), "{stdout}");
    assert_eq!(the_outcome(&app).await.as_deref(), Some("missed"));
}

#[tokio::test]
async fn the_simulator_plays_an_abandoned_outcome() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;

    let stdout = simulated(&app, &["--outcome", "abandoned"]).await;

    assert!(stdout.contains("forwarded leg: canceled"), "{stdout}");
    assert_eq!(the_outcome(&app).await.as_deref(), Some("abandoned"));
}

#[tokio::test]
async fn the_simulator_leaves_a_voicemail_where_the_servers_record_says() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;

    let stdout = simulated(&app, &["--outcome", "voicemail", "--duration", "12"]).await;

    for expected in [
        "POST /twilio/voicemail-done",
        "POST /twilio/voicemail (",
        "<Record",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    assert_eq!(the_outcome(&app).await.as_deref(), Some("voicemail"));
    let row = app
        .db
        .query_one(
            "SELECT voicemail_url, voicemail_duration, call_answered_at IS NULL FROM call_sessions",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<String>>(0).is_some());
    assert_eq!(row.get::<_, Option<i32>>(1), Some(12));
    assert!(row.get::<_, bool>(2), "nobody at the business answered");
}

#[tokio::test]
async fn the_simulator_says_so_and_fails_when_the_number_has_no_voicemail() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.db
        .execute("UPDATE tracked_phone_numbers SET voicemail = false", &[])
        .await
        .unwrap();
    app.wait_for_routing("\"voicemail\":false").await;

    let output = simulate(&app, &["--outcome", "voicemail"]).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("voicemail is off"), "{stderr}");
    assert_eq!(the_outcome(&app).await.as_deref(), Some("missed"));
}

#[tokio::test]
async fn the_simulator_screens_a_call_by_following_the_whisper_and_gather_urls() {
    const WHISPER: &str = "Call from the spring mailer, press a key.";
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

    let stdout = simulated(&app, &["--outcome", "screened"]).await;

    for expected in [
        "POST /twilio/screen?number=",
        "POST /twilio/screen-accept?parent=CA",
        WHISPER,
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    assert_eq!(the_outcome(&app).await.as_deref(), Some("answered"));
    let screened: bool = app
        .db
        .query_one("SELECT screened FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert!(screened);
}

#[tokio::test]
async fn the_simulator_refuses_to_screen_a_number_without_a_whisper() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;

    let output = simulate(&app, &["--outcome", "screened"]).await;

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not screen"), "{stderr}");
}

#[tokio::test]
async fn the_simulator_plays_a_withheld_caller_as_twilio_sends_one() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;

    let output = simulate_from(&app, "anonymous", &["--outcome", "abandoned"]).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = app
        .db
        .query_one(
            "SELECT match_status, caller_phone, call_outcome FROM call_sessions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "unmatched");
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("abandoned")
    );
}
