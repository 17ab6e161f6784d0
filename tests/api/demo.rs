use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::helpers::{conninfo, test_database};

/// Runs `calltrack demo` against the test server and reads its timeline until it serves.
#[tokio::test]
async fn the_demo_prints_its_timeline_and_a_console_url_that_signs_in() {
    let database = test_database().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("demo")
        .env("DATABASE_URL", conninfo(&database))
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("Serving until Ctrl-C");
            output.push(line);
            if done {
                break;
            }
        }
    })
    .await;
    let text = output.join("\n");
    assert!(read.is_ok(), "the demo did not reach serving:\n{text}");

    for expected in [
        "POST /twilio/voice",
        "POST /twilio/dial-complete",
        "POST /twilio/recording",
        "matched to Dana",
        "reward provisioned",
        "sent the reward SMS",
        "delivery delivered",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let console = output
        .iter()
        .find(|l| l.starts_with("Agent console: "))
        .expect("a console URL");
    let url = console.trim_start_matches("Agent console: ");
    let (page, token) = url
        .split_once("#token=")
        .expect("the URL carries a sign-in token");
    let base = page.trim_end_matches("/agent");
    let http = reqwest::Client::new();
    let sessions: serde_json::Value = http
        .get(format!("{base}/api/v1/call-sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["items"].as_array().map(Vec::len),
        Some(1),
        "{sessions}"
    );
    child.kill().await.unwrap();
}
