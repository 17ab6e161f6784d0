use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::helpers::{conninfo, test_database};

/// Runs `calltrack demo` against the test server and reads its timeline until it serves.
#[tokio::test]
async fn the_demo_prints_its_timeline_and_console_urls_that_sign_in() {
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
        .get(format!("{base}/api/v1/call-sessions?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The newest call is the one the tour played, matched to Dana.
    assert_eq!(
        sessions["items"][0]["match_status"], "matched",
        "{sessions}"
    );

    // The manager console's URL signs in a manager, whose campaign has a week of calls of
    // every outcome for the charts.
    let manage = output
        .iter()
        .find(|l| l.starts_with("Manager console: "))
        .expect("a manager console URL");
    let (page, manager) = manage
        .trim_start_matches("Manager console: ")
        .split_once("#token=")
        .expect("the URL carries a sign-in token");
    assert_eq!(page, format!("{base}/manage"));
    let campaigns: serde_json::Value = http
        .get(format!("{base}/api/v1/campaigns"))
        .bearer_auth(manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign = &campaigns["items"][0];
    assert!(
        campaign["total_calls"].as_i64().unwrap() > 40,
        "{campaigns}"
    );
    assert!(campaign["mail_date"].is_string(), "{campaigns}");
    let series: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/campaigns/{}/call-stats/series?bucket=day",
            campaign["id"].as_str().unwrap()
        ))
        .bearer_auth(manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for outcome in ["answered", "missed", "voicemail", "abandoned"] {
        let total: i64 = series["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[outcome].as_i64().unwrap())
            .sum();
        assert!(total > 0, "no {outcome} calls in the demo's week: {series}");
    }
    let days_with_calls = series["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["total_calls"].as_i64().unwrap() > 0)
        .count();
    assert!(days_with_calls >= 7, "{series}");
    child.kill().await.unwrap();
}
