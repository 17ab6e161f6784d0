//! `calltrack demo`: the one-command tour. With nothing configured it starts the embedded
//! database, serves, sets up a demo campaign through the manager API, plays a call through
//! every webhook, marks a condition as an agent would, shows the reward SMS, and keeps serving
//! until Ctrl-C.
//! A local stand-in answers Twilio's REST API (messages, numbers, the call log) for the demo only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::Rng as _;
use uuid::Uuid;

use super::simulate::{self, Outcome, Target};
use crate::auth::issue_token;
use crate::config::{self, DemoSettings, Settings};
use crate::crypto::{CardCipher, random_secret};
use crate::db::{self, Database};
use crate::domain::Role;
use crate::startup::Application;
use crate::twilio::PublicBaseUrl;
use crate::twilio::simulated::random_sid;

pub mod seed;
mod setup;
mod twilio_standin;

use twilio_standin::FakeTwilio;

const DEMO_DATABASE: &str = "calltrack_demo";
const TRACKED: &str = "+18005550100";
const BUSINESS: &str = "+14155550199";
const CALLER: &str = "+14155550123";
/// How long Ctrl-C waits for the demo's connections to close before the embedded database
/// stops under them.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long the console URLs the demo prints stay signed in.
const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// Prints a timeline line with the seconds since the demo started.
struct Timeline(Instant);

impl Timeline {
    fn say(&self, what: impl AsRef<str>) {
        println!(
            "[{:>6.2}s] {}",
            self.0.elapsed().as_secs_f64(),
            what.as_ref()
        );
    }
}

/// Runs the tour on the database of `settings`, serving at its bind address if that is free.
pub async fn run(settings: DemoSettings) -> anyhow::Result<()> {
    let timeline = Timeline(Instant::now());
    let bind = match std::net::TcpListener::bind(settings.bind_addr) {
        Ok(probe) => {
            drop(probe);
            settings.bind_addr
        }
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    };

    let source = settings.database;
    timeline.say(match &source {
        config::DatabaseSource::Url(_) | config::DatabaseSource::Located(_) => {
            "using the PostgreSQL server at DATABASE_URL".to_owned()
        }
        config::DatabaseSource::Embedded { data_dir } => {
            format!(
                "starting the embedded PostgreSQL under {}",
                data_dir.display()
            )
        }
    });
    let database = Database::open_in_background(&source).await?;
    let result = tour(&timeline, &database, bind).await;
    if let Err(error) = database.shutdown_when_idle(CLOSE_WAIT).await {
        eprintln!("stopping the embedded database failed: {error:#}");
    }
    result
}

async fn tour(timeline: &Timeline, database: &Database, bind: SocketAddr) -> anyhow::Result<()> {
    let admin = db::pool::connect(&database.config).await?;
    // Every tour starts from a fresh database.
    seed::recreate_database(&admin, DEMO_DATABASE).await?;
    drop(admin);
    let mut config = database.config.clone();
    config.dbname(DEMO_DATABASE);

    let sms_sender = FakeTwilio::start().await?;
    timeline.say(format!(
        "a local stand-in for Twilio's REST API (messages, numbers, the call log) listens at {} (demo only: nothing reaches Twilio)",
        sms_sender.base_url
    ));

    let auth_token = random_secret(24);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    drop(listener);
    let vars: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", addr.to_string()),
        ("PUBLIC_BASE_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", random_sid("AC")),
        ("TWILIO_AUTH_TOKEN", auth_token.clone()),
        ("TWILIO_API_BASE_URL", sms_sender.base_url.clone()),
        ("TWILIO_SMS_FROM", TRACKED.to_owned()),
        ("JWT_SECRET", random_secret(32)),
        ("GIFT_CARD_KEY", random_secret(32)),
        ("OUTBOX_POLL_MS", "200".to_owned()),
    ]);
    let mut settings = Settings::from_lookup(&|name| vars.get(name).cloned())?;
    settings.database = config::DatabaseSource::Located(Box::new(config.clone()));
    sms_sender
        .sign_with(settings.twilio.auth_token.clone())
        .await;
    let jwt_secret = settings.jwt_secret.clone();
    let cipher = CardCipher::new(&settings.gift_card_key);
    // The service as `serve` assembles it, on the demo's database.
    let app = Application::build(settings).await?;
    timeline.say(format!(
        "created the database {DEMO_DATABASE} and applied the migrations"
    ));
    let client = db::pool::connect(&config).await?;

    let client_id = seed::demo_business(&client).await?;
    // The people who sign in: a call-center agent and a company owner of the demo client.
    let (agent, manager) = (Uuid::new_v4(), Uuid::new_v4());
    let conn = app.pool().get().await?;
    db::users::grant_client_role(&conn, agent, Role::CallCenter, client_id).await?;
    db::users::grant_client_role(&conn, manager, Role::CompanyOwner, client_id).await?;
    drop(conn);
    timeline.say(
        "created the organization \"Demo Agency\" and its client \"Demo Roofing Co\", with a call-center agent and a company owner",
    );

    let server = tokio::spawn(app.run_until(super::shutdown_signal()?));
    timeline.say(format!("calltrack is serving at http://{addr}"));

    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let manager_token = issue_token(&jwt_secret, manager, TOKEN_LIFETIME)?;
    let report = |method: &str, path: &str, status: u16| {
        timeline.say(format!("  {method} {path} -> {status}"));
    };
    let api = setup::ManagerApi {
        http: &http,
        base: &base,
        token: &manager_token,
        report: &report,
    };
    let cards_csv = (1..=5).fold(
        String::from("card_code,pin_code,value_amount\n"),
        |mut csv, _| {
            let (code, pin) = demo_card();
            csv.push_str(&format!("{code},{pin},\n"));
            csv
        },
    );
    timeline
        .say("the company owner sets the campaign up through the manager API, as /manage does:");
    let made = setup::campaign(
        &api,
        &setup::DemoCampaign {
            mail_date: chrono::Utc::now().date_naive() - chrono::Days::new(8),
            recipients_csv: &seed::recipients_csv(),
            cards_csv: &cards_csv,
            tracked: TRACKED,
            business: BUSINESS,
        },
    )
    .await?;
    let campaign_id = made.campaign_id;
    timeline.say(format!(
        "campaign \"Spring roof check\": {} recipients imported, 3 conditions (rewards of a $25 gift card on the first and third), \
         a pool of {} cards, and the tracked number {TRACKED} forwarding to {BUSINESS}",
        made.recipients_added, made.cards_added
    ));

    let history_cards: Vec<(String, String)> = (0..10)
        .map(|_| {
            let (code, pin) = demo_card();
            (cipher.encrypt(&code), cipher.encrypt(&pin))
        })
        .collect();
    let callers = seed::recipients_with_code_prefix(&client, campaign_id, "ROOF-2").await?;
    let history = seed::demo_history(
        &client,
        campaign_id,
        made.tracked_number_id,
        &callers,
        &history_cards,
    )
    .await?;
    timeline.say(format!(
        "wrote last week's history for the charts: the campaign mailed 8 days ago, {} calls since with mixed outcomes, {} conditions met",
        history.calls, history.conditions_met
    ));
    setup::enable_call_rule(&api, campaign_id).await?;
    timeline.say(format!(
        "condition 3 is now met by the call itself after {} s of talk",
        setup::CALL_RULE_SECONDS
    ));

    let target = Target {
        send_to: format!("http://{addr}"),
        signed_as: PublicBaseUrl::parse(&format!("http://{addr}"))?,
        auth_token: auth_token.clone().into(),
    };
    timeline.say(format!(
        "a recipient calls {TRACKED} from {CALLER}; playing Twilio's side of the call:"
    ));
    let call = simulate::play(
        &target,
        CALLER,
        TRACKED,
        Outcome::Answered,
        42,
        |exchange| {
            timeline.say(format!(
                "  POST {:<22} {:<28} -> {}",
                exchange.path, exchange.label, exchange.status
            ));
        },
    )
    .await?;
    let summary = seed::call_summary(&client, &call.call_sid).await?;
    let session = summary.session_id;
    timeline.say(format!(
        "call session {session}: {} to {}, status {}, talked {} s, recorded: {}",
        summary.match_status,
        summary.first_name,
        summary.call_status,
        summary.talk_seconds,
        summary.recorded,
    ));

    // The call rule was met in the same transaction that settled the call's talk time.
    let automatic = seed::automatic_rewards(&client, session).await?;
    for met in &automatic {
        timeline.say(format!(
            "condition {} \"{}\" met automatically by the call rule (talked {} s, at least {} s): reward {}",
            met.condition_number,
            met.condition_name,
            met.talk_seconds,
            met.min_talk_seconds,
            met.reward_status.replace('_', " ")
        ));
    }

    let token = issue_token(&jwt_secret, agent, TOKEN_LIFETIME)?;
    let marked: serde_json::Value = http
        .post(format!("http://{addr}/api/v1/call-sessions/{session}/conditions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "condition_number": 1, "notes": "booked a roof inspection for Tuesday" }))
        .send()
        .await?
        .json()
        .await?;
    timeline.say(format!(
        "agent marked condition 1 \"Booked a roof inspection\": reward {}, delivery {}",
        marked["reward"]["status"].as_str().unwrap_or("?"),
        marked["reward"]["delivery_status"].as_str().unwrap_or("?")
    ));

    let sent = sms_sender
        .wait_for_messages(1 + automatic.len(), Duration::from_secs(15))
        .await?;
    for sms in sent {
        timeline.say(format!(
            "the outbox worker sent the reward SMS to {}:",
            sms.to
        ));
        timeline.say(format!("  \"{}\"", sms.body));
    }
    let delivered = wait_for_delivery(&client, session, Duration::from_secs(15)).await?;
    timeline.say(format!(
        "Twilio's (stand-in) status callback arrived: delivery {delivered}"
    ));

    println!();
    println!("Agent console: http://{addr}/agent#token={token}");
    println!("  (or open http://{addr}/agent and paste this platform token)");
    println!("Manager console: http://{addr}/manage#token={manager_token}");
    println!(
        "  (a company owner of the demo client; numbers bought there come from the local stand-in)"
    );
    println!(
        "API example:   curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/call-sessions"
    );
    println!("Metrics:       http://{addr}/metrics");
    println!(
        "Play another call: TWILIO_AUTH_TOKEN={} PUBLIC_BASE_URL=http://{addr} calltrack simulate call --to {TRACKED} --from +14155550124",
        auth_token
    );
    println!("\nServing until Ctrl-C.");
    server.await.context("the server task failed")??;
    Ok(())
}

/// A made-up gift card: a code like `DEMO-7KQ2-M9XD-R4TB` and a four-digit PIN.
fn demo_card() -> (String, String) {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let mut group = || -> String {
        (0..4)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect()
    };
    let code = format!("DEMO-{}-{}-{}", group(), group(), group());
    let pin = format!("{:04}", rand::thread_rng().gen_range(0..10_000));
    (code, pin)
}

async fn wait_for_delivery(
    client: &tokio_postgres::Client,
    session: Uuid,
    limit: Duration,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let statuses = seed::delivery_status(client, session).await?;
        let done = |s: &Option<String>| matches!(s.as_deref(), Some("delivered" | "failed"));
        if !statuses.is_empty() && statuses.iter().all(done) {
            let words: Vec<&str> = statuses.iter().flatten().map(String::as_str).collect();
            return Ok(words.join(", "));
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "the SMS delivery was not reported in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
