//! `calltrack-lab scale`: the manager and agent consoles' requests on the platform after a
//! busy year (issue 27), measured from outside. Seeds a cached database once (200 clients,
//! 2,000 campaigns, 5,000,000 recipients, 10,000,000 call sessions, one campaign holding
//! 2,000,000 of them; or a fraction, the big campaign kept), starts `calltrack serve` on it,
//! and times each request over HTTP with the users' tokens beside the same use case called
//! in-process ("SQL alone"), then the CSV export of the big campaign with the server's
//! memory, and optionally the voice webhook against the bench's fresh database.
//!
//! The same command measures any build: `--serve-binary` names the `calltrack` that
//! migrates, rebuilds its statistics (`stats rebuild`, where the build has it) and serves.

mod measure;
pub mod seed;
mod voice;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::Command;

use crate::bench::conninfo;
use crate::faults::{ServeConfig, ServeProcess};
use calltrack::config::DatabaseSource;
use calltrack::db;
use seed::{Keys, Plan};

#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Share of the full platform to seed (every count scales but the big campaign's
    /// 2,000,000 sessions).
    #[arg(long, default_value_t = 1.0)]
    pub fraction: f64,
    /// Timed samples of each request, after three warm-ups.
    #[arg(long, default_value_t = 30)]
    pub samples: usize,
    /// The most a request's samples may take in all (HTTP and SQL alone each), in seconds:
    /// a request that takes many seconds is sampled fewer times, and the table says so.
    #[arg(long, default_value_t = 60)]
    pub budget_seconds: u64,
    /// The `calltrack` binary that migrates, rebuilds statistics and serves (default:
    /// `CALLTRACK_BINARY`, else the one cargo built beside this binary).
    #[arg(long)]
    pub serve_binary: Option<PathBuf>,
    /// More environment for the serve child, `NAME=VALUE`, repeatable (a build's own
    /// settings, e.g. its API deadline).
    #[arg(long = "serve-env", value_parser = parse_env)]
    pub serve_env: Vec<(String, String)>,
    /// Drop the cached database and seed it again.
    #[arg(long)]
    pub reseed: bool,
    /// Sessions of the big campaign (a smaller one makes a quick trial run; the database's
    /// name says so).
    #[arg(long, default_value_t = seed::BIG_SESSIONS)]
    pub big_sessions: i64,
    /// Only seed (and rebuild statistics); measure nothing.
    #[arg(long)]
    pub seed_only: bool,
    /// Skip the table of requests (and the export): only seed and, with `--voice`, drive
    /// the voice webhook.
    #[arg(long)]
    pub no_requests: bool,
    /// Skip the CSV export.
    #[arg(long)]
    pub no_csv: bool,
    /// Also drive the voice webhook with wrk on this database and on the bench's fresh one
    /// (`calltrack_bench`, sessions emptied), alternating, and show where the time goes.
    #[arg(long)]
    pub voice: bool,
    /// Concurrent connections of the voice phases (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub voice_connections: Vec<usize>,
    /// Length of each voice phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub voice_seconds: u64,
    /// Rounds of voice phases (each: fresh, then this database, at every concurrency).
    #[arg(long, default_value_t = 2)]
    pub voice_rounds: usize,
    /// The load generator.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
    /// Where the server's log and wrk's files go (default: a new directory under the
    /// system's temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{raw:?} is not NAME=VALUE"))
}

/// `VOICE_DEADLINE_MS` of the serve child: the service's default, as it runs.
const DEADLINE: Duration = Duration::from_millis(1500);

/// Seeds (once), rebuilds statistics, serves and measures.
pub async fn run(args: ScaleArgs, database: DatabaseSource) -> anyhow::Result<()> {
    let plan = Plan::new(args.fraction, args.big_sessions)?;
    let source = database;
    let database = db::Database::open_in_background(&source).await?;
    let binary = match &args.serve_binary {
        Some(binary) => binary.clone(),
        None => crate::calltrack_binary()?,
    };
    let name = plan.database_name();
    println!(
        "calltrack-lab scale: fraction {}: {} clients, {} campaigns, {} recipients, {} call sessions; \
         the big campaign holds {} sessions{}; database {name}; serve binary {}",
        plan.fraction,
        plan.clients,
        plan.campaigns,
        plan.recipients(),
        plan.sessions(),
        plan.big_sessions,
        if plan.fraction < 1.0 {
            " (kept whatever the fraction)"
        } else {
            ""
        },
        binary.display()
    );
    let config = prepare(&database.config, &plan, &name, &binary, args.reseed).await?;
    rebuild_stats(&binary, &config).await?;
    if args.seed_only {
        return Ok(());
    }
    let work = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("calltrack-scale-{}", std::process::id()))
    });
    let client = db::pool::connect(&config).await?;
    let keys = Keys::of(&client, &plan).await?;
    let mut serve_config =
        ServeConfig::new(&binary, &conninfo(&config), work.join("serve"), DEADLINE);
    serve_config.more_env = args.serve_env.clone();
    let serve = ServeProcess::start(serve_config).await?;
    println!(
        "serve pid {} at {}, log in {}",
        serve.pid().unwrap_or(0),
        serve.base_url()?,
        serve.config().dir.display()
    );
    if !args.no_requests {
        let measured = measure::Bench::new(&serve, &config, &client, keys, &args)
            .await?
            .run()
            .await?;
        measure::print(&measured, &args);
    }
    if args.voice {
        let started = voice::run(&args, &database.config, &serve, &client, &plan, &work).await?;
        drop(serve);
        voice::clean_up(&client, started).await?;
        rebuild_stats(&binary, &config).await?;
    }
    Ok(())
}

/// Creates (or reuses) the scale database: migrated by `binary`, seeded once.
async fn prepare(
    admin: &tokio_postgres::Config,
    plan: &Plan,
    name: &str,
    binary: &std::path::Path,
    reseed: bool,
) -> anyhow::Result<tokio_postgres::Config> {
    let admin_client = db::pool::connect(admin).await?;
    let comment: Option<Option<String>> = admin_client
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await?
        .map(|row| row.get(0));
    let finished = comment
        .as_ref()
        .is_some_and(|c| seed::is_finished_seed(c.as_deref()));
    if comment.is_some() && (reseed || !finished) {
        println!(
            "dropping {name} ({})",
            if reseed {
                "--reseed"
            } else {
                "its seed never finished"
            }
        );
        admin_client
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await?;
    }
    crate::seed::ensure_database(&admin_client, name).await?;
    let mut config = admin.clone();
    config.dbname(name);
    migrate(binary, &config).await?;
    if finished && !reseed {
        println!("reusing the seeded database {name}");
        return Ok(config);
    }
    println!("seeding {name} (once) ...");
    let t = Instant::now();
    let client = db::pool::connect(&config).await?;
    seed::populate(&client, plan).await?;
    let seeded = t.elapsed().as_secs_f64();
    println!("seeded in {seeded:.0} s; VACUUM ANALYZE ...");
    let v = Instant::now();
    client.batch_execute("VACUUM ANALYZE").await?;
    client.batch_execute("CHECKPOINT").await?;
    println!("VACUUM ANALYZE: {:.0} s", v.elapsed().as_secs_f64());
    let size: String = client
        .query_one(
            "SELECT pg_size_pretty(pg_database_size(current_database()))",
            &[],
        )
        .await?
        .get(0);
    println!("{name} holds {size}");
    admin_client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {name} IS '{}'",
            seed::marker(plan, seeded).replace('\'', "''")
        ))
        .await?;
    Ok(config)
}

/// `binary migrate` against the database, as an operator would before `serve`.
async fn migrate(binary: &std::path::Path, config: &tokio_postgres::Config) -> anyhow::Result<()> {
    let output = operator(binary, config, &["migrate"]).await?;
    anyhow::ensure!(
        output.status.success(),
        "{} migrate failed: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// `binary stats rebuild`, when the build has that command; says so when it has not.
async fn rebuild_stats(
    binary: &std::path::Path,
    config: &tokio_postgres::Config,
) -> anyhow::Result<()> {
    let help = operator(binary, config, &["stats", "rebuild", "--help"]).await?;
    if !help.status.success() {
        println!(
            "no `stats rebuild` in {} (statistics are read from the facts): skipped",
            binary.display()
        );
        return Ok(());
    }
    let t = Instant::now();
    let output = operator(binary, config, &["stats", "rebuild"]).await?;
    anyhow::ensure!(
        output.status.success(),
        "{} stats rebuild failed: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    println!("stats rebuild: {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

async fn operator(
    binary: &std::path::Path,
    config: &tokio_postgres::Config,
    args: &[&str],
) -> anyhow::Result<std::process::Output> {
    Command::new(binary)
        .args(args)
        .env("DATABASE_URL", conninfo(config))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        // Not the caller's folder, whose `.env` the binary would read.
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {}", binary.display()))
}
