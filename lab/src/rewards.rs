//! `calltrack-lab rewards`: the reward engine measured. CRM events posted to a `serve` child at
//! a number of connections (events/s, p50, p99) beside the same use case run straight against
//! the database at the same concurrency (the per-event SQL ceiling, in the same run), and the
//! due-conditions worker meeting a backlog of time delays (conditions/s).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use calltrack::auth::{Actor, ClientScope, Principal};
use calltrack::config::DatabaseSource;
use calltrack::db;
use hdrhistogram::Histogram;
use uuid::Uuid;

use crate::faults::{ServeConfig, ServeProcess};

#[derive(Debug, Clone, clap::Args)]
pub struct RewardsArgs {
    /// Concurrent connections posting CRM events (and running the SQL ceiling).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// CRM events per phase (each meets one condition of a new recipient, with a card).
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Due time-delay conditions the worker meets.
    #[arg(long, default_value_t = 100_000)]
    pub due: usize,
    /// Name of the database (created afresh on the server DATABASE_URL points at).
    #[arg(long, default_value = "calltrack_rewards_bench")]
    pub database: String,
    /// The `calltrack` binary to serve with (default: the one cargo built beside this one).
    #[arg(long)]
    pub serve_binary: Option<std::path::PathBuf>,
}

/// What one phase measured.
struct Measured {
    done: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.done as f64 / self.seconds
    }
}

pub async fn run(args: RewardsArgs, database: DatabaseSource) -> anyhow::Result<()> {
    anyhow::ensure!(args.connections > 0, "--connections must be positive");
    let source = database;
    let database = tokio::task::spawn_blocking(move || db::Database::open(&source)).await??;
    let config = fresh_database(&database.config, &args.database).await?;
    let client = db::pool::connect(&config).await?;
    let world = seed(&client, args.events, args.due).await?;
    println!(
        "calltrack-lab rewards: {} CRM events per phase at {} connections, {} due time delays",
        args.events, args.connections, args.due
    );

    // CRM events through HTTP: a serve child, an API key, a new recipient per event.
    let binary = match &args.serve_binary {
        Some(binary) => binary.clone(),
        None => crate::calltrack_binary()?,
    };
    let work = std::env::temp_dir().join(format!("calltrack-rewards-{}", std::process::id()));
    let mut serve_config = ServeConfig::new(
        &binary,
        &crate::bench::conninfo(&config),
        work.join("serve"),
        Duration::from_millis(1500),
    );
    // The worker would compete with the phases; it is measured on its own below.
    serve_config
        .more_env
        .push(("CONDITION_CHECK_INTERVAL_MS".into(), "86400000".into()));
    let serve = ServeProcess::start(serve_config).await?;
    let base_url = serve.base_url()?;
    let http = post_events(&base_url, &world, args.connections, args.events).await?;
    drop(serve);

    // The same use case without HTTP: the SQL ceiling per event at the same concurrency.
    let pool = db::pool::pool(config.clone(), args.connections)?;
    let sql = report_events(&pool, &world, args.connections, args.events).await?;
    println!("\nCRM events ({} connections)", args.connections);
    println!(
        "  {:<22} {:>9} {:>10} {:>9} {:>9}",
        "", "events", "events/s", "p50 ms", "p99 ms"
    );
    for (name, m) in [("HTTP (serve)", &http), ("SQL ceiling (direct)", &sql)] {
        println!(
            "  {:<22} {:>9} {:>10.0} {:>9.2} {:>9.2}",
            name,
            m.done,
            m.per_second(),
            m.p50_ms,
            m.p99_ms
        );
    }
    let met: i64 = client
        .query_one(
            "SELECT count(*) FROM call_conditions_met WHERE met_by = 'crm_event'",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        met == i64::try_from(http.done + sql.done)?,
        "{met} conditions met for {} events",
        http.done + sql.done
    );

    // The due-conditions worker on a backlog, as one instance runs it.
    client
        .execute(
            "INSERT INTO calltrack_conditions_due (recipient_id, condition_number, campaign_id,
                 met_by, due_at)
             SELECT r.id, 1, r.campaign_id, 'time_delay', now() - interval '1 minute'
             FROM recipients r WHERE r.campaign_id = $1",
            &[&world.delay_campaign],
        )
        .await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    let started = Instant::now();
    let taken = calltrack::app::conditions::meet_due(&pool).await?;
    let seconds = started.elapsed().as_secs_f64();
    let met: i64 = client
        .query_one(
            "SELECT count(*) FROM call_conditions_met WHERE met_by = 'time_delay' AND gift_card_id IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    println!(
        "\ntime delays: {taken} due conditions met in {seconds:.1} s by one worker: {:.0} conditions/s \
         ({} per transaction; {met} rewards provisioned)",
        taken as f64 / seconds,
        calltrack::app::conditions::DUE_BATCH
    );
    anyhow::ensure!(met == i64::try_from(args.due)?, "{met} of {} met", args.due);
    drop(client);
    database.shutdown()?;
    Ok(())
}

/// Drops and creates `name` on the server and migrates it.
pub(crate) async fn fresh_database(
    server: &tokio_postgres::Config,
    name: &str,
) -> anyhow::Result<tokio_postgres::Config> {
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "the database name must be lowercase letters and _"
    );
    let admin = db::pool::connect(server).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let mut config = server.clone();
    config.dbname(name);
    let mut client = db::pool::connect(&config).await?;
    db::migrate::run(&mut client)
        .await
        .context("migrating the benchmark database")?;
    Ok(config)
}

/// The benchmark's campaigns: one with a `crm_event` condition whose recipients the events
/// name (two per event: one for HTTP, one for the SQL ceiling), one with a `time_delay`
/// condition and `due` recipients; every reward from a pool with a card for each.
struct World {
    client_id: Uuid,
    api_key: String,
    /// Redemption codes `CRM-<n>`, n from 1.
    events: usize,
    delay_campaign: Uuid,
}

async fn seed(client: &tokio_postgres::Client, events: usize, due: usize) -> anyhow::Result<World> {
    let events_i = i32::try_from(events)?;
    let due_i = i32::try_from(due)?;
    let api_key = format!("ck_{}", Uuid::new_v4().simple());
    let row = client
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id),
                  c AS (INSERT INTO clients (org_id, name, api_key_hash)
                        SELECT id, 'Roofing', encode(sha256(convert_to($1, 'UTF8')), 'hex') FROM o RETURNING id),
                  k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'CRM mailer' FROM c RETURNING id),
                  d AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Two-day mailer' FROM c RETURNING id),
                  b AS (INSERT INTO gift_card_brands (brand_name, default_value, is_active)
                        VALUES ('Amazon', 25, true) RETURNING id)
             SELECT c.id, k.id, d.id, b.id FROM c, k, d, b",
            &[&api_key],
        )
        .await?;
    let (client_id, crm_campaign, delay_campaign, brand): (Uuid, Uuid, Uuid, Uuid) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    for (campaign, cards, condition) in [
        (crm_campaign, 2 * events_i, "crm_event"),
        (delay_campaign, due_i, "time_delay"),
    ] {
        client
            .execute(
                "WITH p AS (INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount,
                                total_cards, available_cards, delivered_cards)
                            VALUES ($1, $2, 'Amazon $25', 25, $3, $3, 0) RETURNING id),
                      g AS (INSERT INTO gift_cards (pool_id, card_code, value_amount)
                            SELECT p.id, 'v1:bench-' || n, 25 FROM p, generate_series(1, $3) n),
                      cc AS (INSERT INTO campaign_conditions (campaign_id, condition_number,
                                 condition_name, trigger_type, crm_event_name, time_delay_hours, is_active)
                             VALUES ($4, 1, 'Rewarded', $5,
                                 CASE WHEN $5 = 'crm_event' THEN 'appointment_kept' END,
                                 CASE WHEN $5 = 'time_delay' THEN 48 END, true))
                 INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id, sms_template)
                 SELECT $4, 1, p.id, 'Hi {first_name}: {card_code}' FROM p",
                &[&client_id, &brand, &cards, &campaign, &condition],
            )
            .await?;
    }
    client
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             SELECT $1, 'CRM-' || n, 'Dana', '+1212' || lpad(n::text, 7, '0')
             FROM generate_series(1, $2) n",
            &[&crm_campaign, &(2 * events_i)],
        )
        .await?;
    client
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             SELECT $1, 'TD-' || n, 'Dana', '+1646' || lpad(n::text, 7, '0')
             FROM generate_series(1, $2) n",
            &[&delay_campaign, &due_i],
        )
        .await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    Ok(World {
        client_id,
        api_key,
        events,
        delay_campaign,
    })
}

/// Runs `work(n)` for n in 0..count over `connections` tasks; latencies of each in a histogram.
async fn drive<F, Fut>(connections: usize, count: usize, work: F) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (next, work) = (Arc::clone(&next), Arc::clone(&work));
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return Ok::<_, anyhow::Error>(latency);
                    }
                    let at = Instant::now();
                    work(n).await?;
                    latency.saturating_record(at.elapsed().as_micros().max(1) as u64);
                }
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for task in tasks {
        all.add(task.await??)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(Measured {
        done: usize::try_from(all.len())?,
        seconds,
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
    })
}

async fn post_events(
    base_url: &str,
    world: &World,
    connections: usize,
    count: usize,
) -> anyhow::Result<Measured> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let url = format!("{base_url}/api/v1/crm-events");
    let key = world.api_key.clone();
    drive(connections, count, move |n| {
        let request = http
            .post(&url)
            .header("x-api-key", &key)
            .json(&serde_json::json!({
                "event": "appointment_kept",
                "id": format!("http-{n}"),
                "recipient": {"redemption_code": format!("CRM-{}", n + 1)},
            }));
        async move {
            let response = request.send().await?;
            anyhow::ensure!(
                response.status() == 201,
                "event {n}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            Ok(())
        }
    })
    .await
}

async fn report_events(
    pool: &db::PgPool,
    world: &World,
    connections: usize,
    count: usize,
) -> anyhow::Result<Measured> {
    let principal = Principal {
        actor: Actor::ApiKey {
            client_id: world.client_id,
        },
        scope: ClientScope::Clients(vec![world.client_id]),
    };
    let (pool, offset) = (pool.clone(), world.events);
    drive(connections, count, move |n| {
        let (pool, principal) = (pool.clone(), principal.clone());
        async move {
            let report = calltrack::app::crm_events::CrmEventReport {
                event: "appointment_kept".into(),
                sender_event_id: format!("sql-{n}"),
                occurred_at: None,
                recipient: calltrack::app::crm_events::RecipientRef::RedemptionCode(format!(
                    "CRM-{}",
                    offset + n + 1
                )),
                campaign_id: None,
                notes: None,
            };
            let outcome = calltrack::app::crm_events::report(&pool, &principal, &report).await?;
            anyhow::ensure!(outcome.created && outcome.conditions_met.len() == 1);
            Ok(())
        }
    })
    .await
}
