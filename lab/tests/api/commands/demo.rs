use std::time::{Duration, Instant};

use super::fresh_machine::{FreshMachine, Running, warnings_and_errors};

/// Runs `calltrack demo` as on a fresh machine: nothing configured, its own embedded
/// PostgreSQL. It reads the timeline until the demo serves, signs in with the printed URLs,
/// waits for the start-up reconciliation against the demo's Twilio stand-in to finish, stops
/// the demo with Ctrl-C, and finds not one warning or error in anything it printed.
#[tokio::test]
async fn the_demo_prints_its_timeline_and_console_urls_that_sign_in_and_not_one_warning() {
    let machine = FreshMachine::new();
    let mut command = machine.command(&["demo"]);
    command.env("BIND_ADDR", "127.0.0.1:0");
    let mut demo = Running::spawn(command);
    demo.read_until("Serving until Ctrl-C", Duration::from_secs(180))
        .await;
    let output = demo.output.clone();
    let text = output.join("\n");

    for expected in [
        "POST /twilio/voice",
        "POST /twilio/dial-complete",
        "POST /twilio/recording",
        "matched to Dana",
        "reward provisioned",
        "met automatically by the call rule (talked 42 s, at least 30 s): reward provisioned",
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

    // `serve`'s start-up reconciliation reads the call log of the demo's Twilio stand-in,
    // in the background; it must have run, and finished, before the output is judged.
    let run = start_up_reconciliation(&machine, Duration::from_secs(60)).await;
    assert_eq!(run, (true, None), "the run finished without an error");
    let stopped = demo.stop("INT", Duration::from_secs(60)).await;
    assert!(
        stopped.status.success(),
        "{}: {}",
        stopped.status,
        stopped.stderr.join("\n")
    );
    assert!(
        !machine.cluster_is_running(),
        "Ctrl-C stops the embedded PostgreSQL"
    );
    let everything = stopped.everything();
    assert_eq!(
        warnings_and_errors(&everything),
        Vec::<&String>::new(),
        "the demo warned:\n{}",
        everything.join("\n")
    );
}

/// Whether the demo's start-up reconciliation run finished, and the error it kept, once it
/// has done either; polls the demo's database until then.
async fn start_up_reconciliation(
    machine: &FreshMachine,
    within: Duration,
) -> (bool, Option<String>) {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(machine.data_dir().join("run"))
        .port(5432)
        .user("postgres")
        .dbname("calltrack_demo");
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    let until = Instant::now() + within;
    loop {
        let run = client
            .query_opt(
                "SELECT finished_at IS NOT NULL, error FROM reconcile_runs
                 WHERE kind = 'serve' AND (finished_at IS NOT NULL OR error IS NOT NULL)",
                &[],
            )
            .await
            .unwrap();
        if let Some(run) = run {
            return (run.get(0), run.get(1));
        }
        assert!(
            Instant::now() < until,
            "no start-up reconciliation ended within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
