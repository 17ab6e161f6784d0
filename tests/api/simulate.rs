use crate::helpers::{AUTH_TOKEN, FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp};

async fn simulate(app: &TestApp, extra: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args([
            "simulate",
            "call",
            "--to",
            TRACKED_NUMBER,
            "--from",
            "+14155550100",
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
}
