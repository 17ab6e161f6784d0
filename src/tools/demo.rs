//! `calltrack demo`: the one-command tour. With nothing configured it starts the embedded
//! database, seeds a demo campaign, serves, plays a call through every webhook, marks a
//! condition as an agent would, shows the reward SMS, and keeps serving until Ctrl-C.
//! A local stand-in answers Twilio's REST API (messages, numbers, the call log) for the demo only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use rand::Rng as _;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::auth::issue_token;
use crate::config::{self, DemoSettings, Settings};
use crate::crypto::CardCipher;
use crate::db::{self, Database};
use crate::domain::Role;
use crate::startup::{Application, shutdown_signal};
use crate::tools::fixtures::{random_sid, sms_status};
use crate::tools::simulate::{self, Outcome, Target};
use crate::tools::{random_secret, seed};
use crate::twilio::form::FormPairs;
use crate::twilio::signature;
use crate::twilio::{PublicBaseUrl, token_bytes};

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
        config::DatabaseSource::Url(_) => "using the PostgreSQL server at DATABASE_URL".to_owned(),
        config::DatabaseSource::Embedded { data_dir } => {
            format!(
                "starting the embedded PostgreSQL under {}",
                data_dir.display()
            )
        }
    });
    let database = tokio::task::spawn_blocking(move || Database::open(&source)).await??;
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
    let mut client = db::pool::connect(&config).await?;
    db::migrate::run(&mut client).await?;
    db::migrate::ensure_event_partitions(&client).await?;
    timeline.say(format!(
        "created the database {DEMO_DATABASE} and applied the migrations"
    ));

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
    let settings = Settings::from_lookup(&|name| vars.get(name).cloned())?;
    sms_sender
        .sign_with(settings.twilio.auth_token.clone())
        .await;

    let cipher = CardCipher::new(&settings.gift_card_key);
    let cards: Vec<(String, String)> = (1..=5)
        .map(|_| {
            let (code, pin) = demo_card();
            (cipher.encrypt(&code), cipher.encrypt(&pin))
        })
        .collect();
    seed::demo_campaign(
        &client,
        &seed::DemoWorld {
            tracked: TRACKED,
            business: BUSINESS,
            provider_sid: &random_sid("PN"),
            encrypted_cards: &cards,
        },
    )
    .await?;
    timeline.say(format!(
        "seeded organization, client, campaign \"Spring roof check\", 3 recipients, 2 conditions, \
         a reward of a $25 gift card from a pool of 5 cards, and the tracked number {TRACKED} forwarding to {BUSINESS}"
    ));

    let ids = client
        .query_one(
            "SELECT t.campaign_id, t.id, k.client_id FROM tracked_phone_numbers t
             JOIN campaigns k ON k.id = t.campaign_id WHERE t.phone_number = $1",
            &[&TRACKED],
        )
        .await?;
    let (campaign_id, tracked_id, client_id): (Uuid, Uuid, Uuid) =
        (ids.get(0), ids.get(1), ids.get(2));
    let history_cards: Vec<(String, String)> = (0..10)
        .map(|_| {
            let (code, pin) = demo_card();
            (cipher.encrypt(&code), cipher.encrypt(&pin))
        })
        .collect();
    let history = seed::demo_history(&client, campaign_id, tracked_id, &history_cards).await?;
    // The people who sign in: a call-center agent and a company owner of the demo client.
    let pool = db::pool::pool(config.clone(), 16)?;
    let (agent, manager) = (Uuid::new_v4(), Uuid::new_v4());
    let conn = pool.get().await?;
    db::users::grant_client_role(&conn, agent, Role::CallCenter, client_id).await?;
    db::users::grant_client_role(&conn, manager, Role::CompanyOwner, client_id).await?;
    drop(conn);
    timeline.say(format!(
        "seeded last week's history for the charts: the campaign mailed 8 days ago, {} calls since with mixed outcomes, {} conditions met, and a company owner for the manager console",
        history.calls, history.conditions_met
    ));

    let app = Application::build(&settings, pool.clone()).await?;
    let server = tokio::spawn(app.run_until(shutdown_signal()?));
    timeline.say(format!("calltrack is serving at http://{addr}"));

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

    let token = issue_token(&settings.jwt_secret, agent, TOKEN_LIFETIME)?;
    let http = reqwest::Client::new();
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

    let sms = sms_sender.wait_for_message(Duration::from_secs(15)).await?;
    timeline.say(format!(
        "the outbox worker sent the reward SMS to {}:",
        sms.to
    ));
    timeline.say(format!("  \"{}\"", sms.body));
    let delivered = wait_for_delivery(&client, session, Duration::from_secs(15)).await?;
    timeline.say(format!(
        "Twilio's (stand-in) status callback arrived: delivery {delivered}"
    ));

    println!();
    println!("Agent console: http://{addr}/agent#token={token}");
    println!("  (or open http://{addr}/agent and paste this platform token)");
    let manager_token = issue_token(&settings.jwt_secret, manager, TOKEN_LIFETIME)?;
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
        let status = seed::delivery_status(client, session).await?;
        if let Some(status @ ("delivered" | "failed")) = status.as_deref() {
            return Ok(status.to_owned());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "the SMS delivery was not reported in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message the stand-in accepted.
#[derive(Clone)]
struct SentSms {
    to: String,
    body: String,
}

#[derive(Clone, Default)]
struct FakeState {
    sent: Arc<Mutex<Vec<SentSms>>>,
    auth_token: Arc<Mutex<Option<secrecy::SecretString>>>,
}

/// Stands in for Twilio's REST API in the demo: accepts messages, then reports them delivered
/// through the signed status callback, as Twilio would; sells, points and releases made-up
/// numbers; and answers the call log `serve` reads at start-up.
struct FakeTwilio {
    base_url: String,
    state: FakeState,
}

impl FakeTwilio {
    async fn start() -> anyhow::Result<Self> {
        let state = FakeState::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let data = web::Data::new(state.clone());
        // One worker is plenty for a handful of messages; the demo stops it by exiting.
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/2010-04-01/Accounts/{account}/Messages.json",
                    web::post().to(accept_message),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/Calls.json",
                    web::get().to(list_calls),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                    web::post().to(sell_number),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
                    web::post().to(update_number),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
                    web::delete().to(release_number),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        tokio::spawn(server);
        Ok(Self { base_url, state })
    }

    async fn sign_with(&self, token: secrecy::SecretString) {
        *self.state.auth_token.lock().await = Some(token);
    }

    async fn wait_for_message(&self, limit: Duration) -> anyhow::Result<SentSms> {
        let started = Instant::now();
        loop {
            if let Some(sms) = self.state.sent.lock().await.first().cloned() {
                return Ok(sms);
            }
            anyhow::ensure!(started.elapsed() < limit, "no SMS was sent in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sells a made-up number in the requested area code (or the exact one asked for), so the
/// manager console's "Buy a number" works in the demo without a Twilio account.
async fn sell_number(body: String) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    let number = match (form.get("PhoneNumber"), form.get("AreaCode")) {
        (Some(exact), _) => exact.to_owned(),
        (None, Some(area)) if area.len() == 3 && area.bytes().all(|b| b.is_ascii_digit()) => {
            format!(
                "+1{area}555{:04}",
                rand::thread_rng().gen_range(1000..10_000)
            )
        }
        _ => {
            return HttpResponse::BadRequest().json(serde_json::json!({
                "code": 21451, "message": "Invalid area code", "status": 400,
            }));
        }
    };
    HttpResponse::Created().json(serde_json::json!({
        "sid": random_sid("PN"),
        "phone_number": number,
        "friendly_name": form.get("FriendlyName"),
        "voice_url": form.get("VoiceUrl"),
    }))
}

/// The account's call log, one page of it as Twilio pages it. The demo plays its calls
/// straight to the server, never through the stand-in, so the log is empty: the first page is
/// the last one (`next_page_uri` null), and the start-up reconciliation finds nothing to fill.
async fn list_calls(req: HttpRequest) -> HttpResponse {
    let query = FormPairs::parse(req.query_string().as_bytes()).unwrap_or_default();
    let page_size = query
        .get("PageSize")
        .and_then(|size| size.parse::<u32>().ok())
        .unwrap_or(50);
    let uri = if req.query_string().is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), req.query_string())
    };
    HttpResponse::Ok().json(serde_json::json!({
        "calls": [],
        "page": 0,
        "page_size": page_size,
        "start": 0,
        "end": 0,
        "uri": uri,
        "first_page_uri": uri,
        "previous_page_uri": null,
        "next_page_uri": null,
    }))
}

async fn update_number(path: web::Path<(String, String)>, body: String) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    HttpResponse::Ok().json(serde_json::json!({
        "sid": path.into_inner().1,
        "phone_number": TRACKED,
        "voice_url": form.get("VoiceUrl"),
    }))
}

async fn release_number() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn accept_message(
    state: web::Data<FakeState>,
    account: web::Path<String>,
    body: String,
) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    let to = form.get("To").unwrap_or_default().to_owned();
    let callback = form.get("StatusCallback").map(str::to_owned);
    let sid = random_sid("SM");
    state.sent.lock().await.push(SentSms {
        to: to.clone(),
        body: form.get("Body").unwrap_or_default().to_owned(),
    });
    if let (Some(callback), Some(token)) = (callback, state.auth_token.lock().await.clone()) {
        let (sid, to) = (sid.clone(), to.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let form = sms_status(&sid, &to, "delivered", None);
            let signature = signature::compute(token_bytes(&token), &callback, form.pairs());
            let _ = reqwest::Client::new()
                .post(&callback)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", signature)
                .body(form.encode())
                .send()
                .await;
        });
    }
    HttpResponse::Created().json(serde_json::json!({
        "sid": sid,
        "status": "queued",
        "to": to,
        "account_sid": account.into_inner(),
    }))
}
