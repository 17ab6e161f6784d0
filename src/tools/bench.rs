//! `calltrack bench`: seeds a benchmark database (1,000 tracked numbers, 1,000,000
//! recipients), then measures signed voice webhooks and status callbacks over HTTP against
//! the same SQL issued directly, each phase for a fixed time at a fixed concurrency.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::Rng as _;
use tokio::sync::Mutex;

use crate::config::{BenchSettings, Settings};
use crate::db::calls::{self, CallProgress, IncomingCall};
use crate::db::{self, PgPool};
use crate::domain::{CallSid, CallStatus, CallerId, E164};
use crate::startup::Application;
use crate::tools::fixtures::{SimulatedCall, random_sid};
use crate::tools::simulate::Target;
use crate::tools::{random_secret, seed};
use crate::twilio::form::FormPairs;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Concurrent connections (HTTP) or pooled sessions (SQL) per phase.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Tracked numbers to seed, one campaign each.
    #[arg(long, default_value_t = 1_000)]
    pub numbers: i64,
    /// Recipients to seed, spread evenly over the campaigns.
    #[arg(long, default_value_t = 1_000_000)]
    pub recipients: i64,
    /// Name of the benchmark database (created on the server DATABASE_URL points at).
    #[arg(long, default_value = "calltrack_bench")]
    pub database: String,
}

const PUBLIC_BASE: &str = "https://bench.calltrack.invalid";
const FORWARD_TO: &str = "+14155550199";
/// One caller in five is not a recipient, as in real campaigns.
const UNMATCHED_SHARE: f64 = 0.2;
/// Latencies above a minute are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Seeds (once), serves on a free port and runs the four phases against the database server
/// of `settings`.
pub async fn run(args: BenchArgs, settings: BenchSettings) -> anyhow::Result<()> {
    let source = settings.database;
    let database = tokio::task::spawn_blocking(move || db::Database::open(&source)).await??;
    let config = prepare_database(&database.config, &args).await?;
    let pool = db::pool::pool(config.clone(), args.connections * 2)?;

    let settings = bench_settings()?;
    let app = Application::build(&settings, pool.clone()).await?;
    let target = Arc::new(Target {
        send_to: format!("http://{}", app.local_addr()?),
        signed_as: settings.public_base_url.clone(),
        auth_token: settings.twilio.auth_token.clone(),
    });
    let server = tokio::spawn(app.run_until(std::future::pending()));

    println!(
        "calltrack bench: {} tracked numbers, {} recipients, {} connections, {} s per phase",
        args.numbers, args.recipients, args.connections, args.seconds
    );
    let population = Population {
        numbers: args.numbers,
        per_campaign: args.recipients / args.numbers,
    };
    let phase = Duration::from_secs(args.seconds);
    let mut results = Vec::new();
    let http_sids = Arc::new(Mutex::new(Vec::new()));
    let sql_sids = Arc::new(Mutex::new(Vec::new()));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    results.push(
        drive("voice webhook (HTTP)", args.connections, phase, {
            let (http, target, sids) = (http.clone(), target.clone(), http_sids.clone());
            move || {
                let (http, target, sids) = (http.clone(), target.clone(), sids.clone());
                async move {
                    let call = population.random_call();
                    post(&http, &target, "/twilio/voice", &call.voice()).await?;
                    sids.lock().await.push(call);
                    Ok(())
                }
            }
        })
        .await?,
    );
    results.push(
        drive("voice SQL (direct)", args.connections, phase, {
            let (pool, sids) = (pool.clone(), sql_sids.clone());
            move || {
                let (pool, sids) = (pool.clone(), sids.clone());
                async move {
                    let call = population.random_call();
                    voice_sql(&pool, &call).await?;
                    sids.lock().await.push(call);
                    Ok(())
                }
            }
        })
        .await?,
    );
    let http_calls = Arc::new(std::mem::take(&mut *http_sids.lock().await));
    let sql_calls = Arc::new(std::mem::take(&mut *sql_sids.lock().await));
    results.push(
        drive("status callback (HTTP)", args.connections, phase, {
            let (http, target, calls) = (http.clone(), target.clone(), http_calls.clone());
            move || {
                let (http, target, calls) = (http.clone(), target.clone(), calls.clone());
                async move {
                    let call = &calls[rand::thread_rng().gen_range(0..calls.len())];
                    let form = call.parent_completed(40, chrono::Utc::now());
                    post(&http, &target, "/twilio/status", &form).await
                }
            }
        })
        .await?,
    );
    results.push(
        drive("status SQL (direct)", args.connections, phase, {
            let (pool, calls) = (pool.clone(), sql_calls.clone());
            move || {
                let (pool, calls) = (pool.clone(), calls.clone());
                async move {
                    let call = &calls[rand::thread_rng().gen_range(0..calls.len())];
                    status_sql(&pool, call).await
                }
            }
        })
        .await?,
    );
    server.abort();

    print_report(&results);
    database.shutdown()?;
    Ok(())
}

/// Which caller calls which number: recipient `k` of campaign `c` has phone 212-xxx-xxxx.
#[derive(Debug, Clone, Copy)]
struct Population {
    numbers: i64,
    per_campaign: i64,
}

impl Population {
    fn random_call(self) -> SimulatedCall {
        let mut rng = rand::thread_rng();
        let campaign = rng.gen_range(0..self.numbers);
        let to = format!("+1800{:07}", campaign + 1);
        let from = if rng.gen_bool(UNMATCHED_SHARE) {
            format!("+1646{:07}", rng.gen_range(0..10_000_000))
        } else {
            let k = campaign * self.per_campaign + rng.gen_range(0..self.per_campaign) + 1;
            format!("+1{}", 2_120_000_000 + k)
        };
        SimulatedCall::new(&from, &to, FORWARD_TO)
    }
}

/// The in-process server's settings, with secrets made up for this run.
fn bench_settings() -> anyhow::Result<Settings> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("PUBLIC_BASE_URL", PUBLIC_BASE.to_owned()),
        ("TWILIO_ACCOUNT_SID", random_sid("AC")),
        ("TWILIO_AUTH_TOKEN", random_secret(24)),
        ("JWT_SECRET", random_secret(32)),
        ("GIFT_CARD_KEY", random_secret(32)),
        ("LOG_FORMAT", "json".to_owned()),
    ]);
    Ok(Settings::from_lookup(&|name| vars.get(name).cloned())?)
}

async fn post(
    http: &reqwest::Client,
    target: &Target,
    path: &str,
    form: &FormPairs,
) -> anyhow::Result<()> {
    let response = target.signed_post(http, path, form).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{path} answered {}",
        response.status()
    );
    response.bytes().await?;
    Ok(())
}

/// Exactly the statement the voice webhook runs.
async fn voice_sql(pool: &PgPool, call: &SimulatedCall) -> anyhow::Result<()> {
    let client = pool.get().await?;
    let call_sid = CallSid::parse(&call.call_sid)?;
    let to = E164::parse(&call.to)?;
    let caller = CallerId::parse(&call.from);
    let incoming = IncomingCall {
        call_sid: &call_sid,
        to: &to,
        caller: &caller,
        raw_from: &call.from,
        status: CallStatus::Ringing,
        started_at: None,
        verstat: None,
    };
    calls::record_incoming_call(&client, &incoming).await?;
    Ok(())
}

/// Exactly the statement a parent's final status callback runs.
async fn status_sql(pool: &PgPool, call: &SimulatedCall) -> anyhow::Result<()> {
    let client = pool.get().await?;
    let progress = CallProgress {
        status: Some(CallStatus::Completed),
        ended_at: Some(chrono::Utc::now()),
        duration_seconds: Some(40),
        ..CallProgress::default()
    };
    calls::apply_progress(&client, &CallSid::parse(&call.call_sid)?, &progress).await?;
    Ok(())
}

struct PhaseResult {
    name: &'static str,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

/// Runs `op` from `connections` tasks in a loop for `length`, recording each latency.
async fn drive<F, Fut>(
    name: &'static str,
    connections: usize,
    length: Duration,
    op: F,
) -> anyhow::Result<PhaseResult>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)
                    .unwrap_or_else(|_| unreachable!());
                let mut errors = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match op().await {
                        Ok(()) => {
                            let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                            histogram.saturating_record(micros.max(1));
                        }
                        Err(error) => {
                            errors += 1;
                            if errors == 1 {
                                eprintln!("{name}: {error:#}");
                            }
                        }
                    }
                }
                (histogram, errors)
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    let mut errors = 0;
    for task in tasks {
        let (histogram, task_errors) = task.await?;
        latency_us.add(&histogram)?;
        errors += task_errors;
    }
    let elapsed = started.elapsed();
    Ok(PhaseResult {
        name,
        requests: latency_us.len(),
        errors,
        elapsed,
        latency_us,
    })
}

fn print_report(results: &[PhaseResult]) {
    println!(
        "\n{:<26} {:>9} {:>7} {:>10} {:>8} {:>8}",
        "phase", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    let rate = |r: &PhaseResult| r.requests as f64 / r.elapsed.as_secs_f64();
    for r in results {
        println!(
            "{:<26} {:>9} {:>7} {:>10.0} {:>8.2} {:>8.2}",
            r.name,
            r.requests,
            r.errors,
            rate(r),
            r.latency_us.value_at_quantile(0.50) as f64 / 1000.0,
            r.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    let find = |name: &str| results.iter().find(|r| r.name == name).map(rate);
    for (what, http, sql) in [
        ("voice", "voice webhook (HTTP)", "voice SQL (direct)"),
        ("status", "status callback (HTTP)", "status SQL (direct)"),
    ] {
        if let (Some(h), Some(s)) = (find(http), find(sql)) {
            println!("{what}: HTTP end to end / direct SQL = {:.2}", h / s);
        }
    }
}

/// Creates (once) and seeds (when the population differs) the benchmark database, and
/// empties its sessions so every run starts alike.
async fn prepare_database(
    admin: &tokio_postgres::Config,
    args: &BenchArgs,
) -> anyhow::Result<tokio_postgres::Config> {
    anyhow::ensure!(
        args.database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "--database must be letters, digits and underscores"
    );
    anyhow::ensure!(
        args.numbers > 0 && args.recipients >= args.numbers,
        "need at least one recipient per number"
    );
    let client = db::pool::connect(admin).await?;
    seed::ensure_database(&client, &args.database).await?;
    let mut config = admin.clone();
    config.dbname(&args.database);
    let mut bench = db::pool::connect(&config).await?;
    db::migrate::run(&mut bench).await?;
    db::migrate::ensure_event_partitions(&bench).await?;
    let seeded = seed::population(&bench).await?;
    let per_campaign = args.recipients / args.numbers;
    if seeded != (args.numbers, per_campaign * args.numbers) {
        println!(
            "seeding {} numbers and {} recipients (once) ...",
            args.numbers,
            per_campaign * args.numbers
        );
        let t = Instant::now();
        seed::bench_population(&bench, args.numbers, per_campaign, FORWARD_TO)
            .await
            .context("seeding failed")?;
        println!("seeded in {:.1} s", t.elapsed().as_secs_f64());
    }
    seed::reset_sessions(&bench).await?;
    Ok(config)
}
