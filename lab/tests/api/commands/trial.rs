//! `calltrack serve` with nothing set: a local trial that generates its secrets once, serves
//! a trial business that simulated calls and the printed sign-in URL work with, and reuses
//! the secrets on the next start; with a `PUBLIC_BASE_URL`, a refusal naming every missing
//! variable at once; and on a port in use, a refusal before any database starts.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use calltrack::twilio::signature;
use calltrack::twilio::simulated::SimulatedCall;

use super::fresh_machine::{FreshMachine, Running, free_port};

/// A first start initialises the cluster and migrates, on two shared cores.
const START: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(60);
const TRIAL_NUMBER: &str = "+18005550100";
const TRIAL_FORWARD_TO: &str = "+14155550199";
const TRIAL_RECIPIENT: &str = "+14155550123";

const REQUIRED: [&str; 4] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "JWT_SECRET",
    "GIFT_CARD_KEY",
];

/// `serve` on `machine`, listening on `bind_addr`, with nothing else set.
fn trial_serve(machine: &FreshMachine, bind_addr: &str) -> Running {
    let mut command = machine.command(&["serve"]);
    command.env("BIND_ADDR", bind_addr);
    Running::spawn(command)
}

/// The sign-in token of the manager console's URL the trial printed, and the URL's base.
fn sign_in(serve: &Running) -> (String, String) {
    let url = serve.line_after("Manager console:");
    let (page, token) = url
        .split_once("#token=")
        .expect("the URL carries a sign-in token");
    let base = page
        .strip_suffix("/manage")
        .expect("the URL is the manager console's");
    (base.to_owned(), token.to_owned())
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn serve_with_nothing_set_runs_a_trial_that_simulated_calls_and_its_sign_in_url_work() {
    let machine = FreshMachine::new();
    let bind_addr = format!("127.0.0.1:{}", free_port());
    let mut serve = trial_serve(&machine, &bind_addr);
    serve.read_until("Try a call:", START).await;

    // It said what it generated, where it keeps it, and that real Twilio is refused.
    let said = serve.output.join("\n");
    let secrets_file = machine.data_dir().join("trial-secrets.env");
    assert!(
        said.contains(
            "generated TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, JWT_SECRET and GIFT_CARD_KEY"
        ) && said.contains(&secrets_file.display().to_string()),
        "{said}"
    );
    assert!(
        said.contains("Real Twilio webhooks are refused (403)"),
        "{said}"
    );
    let metadata = std::fs::metadata(&secrets_file).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let secrets = std::fs::read_to_string(&secrets_file).unwrap();
    for name in REQUIRED {
        assert!(secrets.contains(&format!("\n{name}=")), "{name} kept");
    }

    // `simulate` finds the server and its auth token with nothing set either.
    let mut simulate = machine.command(&[
        "simulate",
        "call",
        "--to",
        TRIAL_NUMBER,
        "--from",
        TRIAL_RECIPIENT,
    ]);
    simulate.env("BIND_ADDR", &bind_addr);
    let simulated = tokio::time::timeout(STOP, simulate.output())
        .await
        .expect("the simulated call ended in time")
        .unwrap();
    let played = String::from_utf8_lossy(&simulated.stdout);
    assert!(
        simulated.status.success(),
        "{played}{}",
        String::from_utf8_lossy(&simulated.stderr)
    );
    assert!(
        played.contains(&format!("{TRIAL_FORWARD_TO}</Number>")),
        "the call was forwarded:\n{played}"
    );

    // The printed sign-in URL works on the API: the trial campaign and the call, matched.
    let (base, token) = sign_in(&serve);
    let http = reqwest::Client::new();
    let campaigns = get_json(&http, &format!("{base}/api/v1/campaigns"), &token).await;
    assert_eq!(
        campaigns["items"][0]["name"], "Trial campaign",
        "{campaigns}"
    );
    let sessions = get_json(
        &http,
        &format!("{base}/api/v1/call-sessions?limit=1"),
        &token,
    )
    .await;
    assert_eq!(
        sessions["items"][0]["match_status"], "matched",
        "{sessions}"
    );
    assert_eq!(
        sessions["items"][0]["call_status"], "completed",
        "{sessions}"
    );

    // A webhook signed with any other token (real Twilio's) is refused.
    let call = SimulatedCall::new(TRIAL_RECIPIENT, TRIAL_NUMBER, TRIAL_FORWARD_TO);
    let form = call.voice();
    let url = format!("http://{bind_addr}/twilio/voice");
    let refused = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            signature::compute(b"the account's real auth token", &url, form.pairs()),
        )
        .body(form.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let stopped = serve.stop("TERM", STOP).await;
    assert!(
        stopped.status.success(),
        "{}",
        stopped.everything().join("\n")
    );
    assert!(
        !machine.cluster_is_running(),
        "serve stops the embedded PostgreSQL it started"
    );

    // The next start reuses the secrets: same file, and the first start's token still works.
    let mut serve = trial_serve(&machine, &bind_addr);
    serve.read_until("Try a call:", START).await;
    let said = serve.output.join("\n");
    assert!(said.contains("generated by an earlier start"), "{said}");
    assert!(!said.contains("generated TWILIO"), "{said}");
    assert_eq!(std::fs::read_to_string(&secrets_file).unwrap(), secrets);
    let campaigns = get_json(&http, &format!("{base}/api/v1/campaigns"), &token).await;
    assert_eq!(
        campaigns["items"].as_array().map(Vec::len),
        Some(1),
        "the trial business is not created twice: {campaigns}"
    );
    let stopped = serve.stop("TERM", STOP).await;
    assert!(
        stopped.status.success(),
        "{}",
        stopped.everything().join("\n")
    );
    assert!(!machine.cluster_is_running());
}

#[tokio::test]
async fn serve_meant_for_real_twilio_names_every_missing_variable_in_one_message() {
    let machine = FreshMachine::new();
    for (set, missing) in [
        (
            vec![("PUBLIC_BASE_URL", "https://calltrack.example.com")],
            &REQUIRED[..],
        ),
        (
            vec![
                ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none"),
                ("JWT_SECRET", "set"),
            ],
            &["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "GIFT_CARD_KEY"][..],
        ),
    ] {
        let mut command = machine.command(&["serve"]);
        command.envs(set.iter().copied());
        let output = tokio::time::timeout(STOP, command.output())
            .await
            .expect("serve stopped at once")
            .unwrap();

        assert!(!output.status.success(), "{set:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .filter(|line| missing.iter().any(|name| line.contains(name)))
            .collect();
        assert_eq!(message.len(), 1, "one message for {set:?}:\n{stderr}");
        for name in missing {
            assert!(message[0].contains(name), "{name} in {}", message[0]);
        }
        assert!(
            !machine.data_dir().exists(),
            "nothing generated, no database started"
        );
    }
}

/// A port already taken stops `serve` before its embedded PostgreSQL starts: nothing is left
/// running for a service that never served.
#[tokio::test]
async fn serve_on_a_port_in_use_names_it_and_leaves_no_database_running() {
    let machine = FreshMachine::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut command = machine.command(&["serve"]);
    command.env("BIND_ADDR", &addr);

    let output = tokio::time::timeout(START, command.output())
        .await
        .expect("serve stopped")
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        !machine.cluster_is_running(),
        "the embedded cluster was left running"
    );
    drop(taken);
}
