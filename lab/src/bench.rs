//! `calltrack-lab bench`: seeds a benchmark database (1,000 tracked numbers, 1,000,000
//! recipients), starts `calltrack serve` as a separate process and drives it from outside over
//! real sockets with wrk and pre-signed requests (signing is not billed to the server), then
//! measures the per-call statement the webhook would otherwise issue with pgbench, a separate
//! client, on the same database: voice webhooks and status callbacks, at each concurrency.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::Rng as _;
use tokio::process::Command;

use crate::faults::{ServeConfig, ServeProcess};
use crate::seed;
use calltrack::config::DatabaseSource;
use calltrack::db;
use calltrack::domain::CallStatus;
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Concurrent connections per phase, one round of phases each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub connections: Vec<usize>,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rounds of the four phases at each concurrency. Each round runs HTTP and SQL one after
    /// the other, so a shared machine's drift touches both; the summary gives the median.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Tracked numbers to seed, one campaign each.
    #[arg(long, default_value_t = 1_000)]
    pub numbers: i64,
    /// Recipients to seed, spread evenly over the campaigns.
    #[arg(long, default_value_t = 1_000_000)]
    pub recipients: i64,
    /// Name of the benchmark database (created on the server DATABASE_URL points at).
    #[arg(long, default_value = "calltrack_bench")]
    pub database: String,
    /// The load generator.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
    /// PostgreSQL's pgbench (default: on PATH, else under /usr/lib/postgresql/*/bin).
    #[arg(long)]
    pub pgbench: Option<PathBuf>,
    /// The `calltrack` binary to serve with (default: `CALLTRACK_BINARY`, else the one cargo
    /// built beside this binary), e.g. an earlier build to compare with on the same machine
    /// and database.
    #[arg(long)]
    pub serve_binary: Option<PathBuf>,
    /// Where the pre-signed requests, scripts and the server's log go (default: a new
    /// directory under the system's temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

const FORWARD_TO: &str = "+14155550199";
/// One caller in five is not a recipient, as in real campaigns.
const UNMATCHED_SHARE: f64 = 0.2;
/// Latencies above a minute are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Requests pre-signed per second of a phase: more than the server can take, so wrk never
/// runs out (each request is a new call or a new callback, sent once).
const PRESIGNED_PER_SECOND: u64 = 20_000;
const PRESIGNED_PER_SECOND_ALONE: u64 = 6_000;

/// Seeds (once), starts `serve` and runs every phase at every concurrency.
pub async fn run(args: BenchArgs, database: DatabaseSource) -> anyhow::Result<()> {
    let source = database;
    let database = tokio::task::spawn_blocking(move || db::Database::open(&source)).await??;
    let config = prepare_database(&database.config, &args).await?;
    let pgbench = find_pgbench(args.pgbench.as_deref())?;
    let work = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("calltrack-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    std::fs::write(work.join("wrk.lua"), WRK_SCRIPT)?;
    let binary = match &args.serve_binary {
        Some(binary) => binary.clone(),
        None => crate::calltrack_binary()?,
    };
    let serve_config = ServeConfig::new(
        &binary,
        &conninfo(&config),
        work.join("serve"),
        Duration::from_millis(1500),
    );
    let serve = ServeProcess::start(serve_config.clone()).await?;
    let base_url = serve.base_url()?;
    let client = db::pool::connect(&config).await?;
    let population = Population {
        numbers: args.numbers,
        per_campaign: args.recipients / args.numbers,
    };
    println!(
        "calltrack-lab bench: {} tracked numbers, {} recipients; {} serve (pid {}, WEBHOOK_WRITERS={}) at {base_url}, \
         info-level JSON logs to {}; wrk and pgbench as separate processes; {} s per phase",
        args.numbers,
        population.per_campaign * args.numbers,
        binary.display(),
        serve.pid().unwrap_or(0),
        std::env::var("WEBHOOK_WRITERS")
            .unwrap_or_else(|_| calltrack::config::DEFAULT_WEBHOOK_WRITERS.to_string()),
        serve_config.dir.display(),
        args.seconds
    );
    let signer = Signer {
        base: serve_config
            .public_base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        token: serve_config.auth_token.clone(),
    };
    let server = Server {
        wrk: &args.wrk,
        base_url: &base_url,
        signer: &signer,
        process: &serve,
        http: reqwest::Client::new(),
    };
    let mut rows = Vec::new();
    for &connections in &args.connections {
        anyhow::ensure!(connections > 0, "--connections must be positive");
        seed::reset_sessions(&client).await?;
        let phase = Phase {
            connections,
            seconds: args.seconds,
            work: &work,
            client: &client,
        };
        let count = presigned(connections, args.seconds);
        for round in 1..=args.rounds.max(1) {
            let calls: Vec<SimulatedCall> = (0..count).map(|_| population.random_call()).collect();
            let voice: Vec<(&str, FormPairs)> =
                calls.iter().map(|c| ("/twilio/voice", c.voice())).collect();
            let voice_http = server.drive(&phase, "voice", "voice", &voice).await?;
            let voice_sql = phase
                .pgbench(&pgbench, &config, "voice", &voice_script(population))
                .await?;

            let taken = sessions_of(&client, &calls).await?;
            let status: Vec<(&str, FormPairs)> = status_callbacks(&taken, count);
            let status_http = server.drive(&phase, "status", "progress", &status).await?;
            let sids = fill_bench_sids(&client).await?;
            let status_sql = phase
                .pgbench(&pgbench, &config, "status", &status_script(sids))
                .await?;
            for (name, http, sql) in [
                ("voice", voice_http, voice_sql),
                ("status", status_http, status_sql),
            ] {
                rows.push(Row {
                    connections,
                    round,
                    name,
                    http,
                    sql,
                });
            }
            print_rows(&rows[rows.len() - 2..]);
        }
    }
    drop(server);
    drop(serve);
    println!("\nall phases:");
    print_rows(&rows);
    if args.rounds > 1 {
        print_medians(&rows);
    }
    database.shutdown()?;
    Ok(())
}

/// Which caller calls which number: recipient `k` of campaign `c` has phone 212-xxx-xxxx.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Population {
    pub(crate) numbers: i64,
    pub(crate) per_campaign: i64,
}

impl Population {
    pub(crate) fn random_call(self) -> SimulatedCall {
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

/// Signs requests as Twilio does, for the server under test.
struct Signer {
    base: String,
    token: String,
}

impl Signer {
    fn sign(&self, path: &str, form: &FormPairs) -> String {
        calltrack::twilio::signature::compute(
            self.token.as_bytes(),
            &format!("{}{path}", self.base),
            form.pairs(),
        )
    }
}

/// One phase's figures.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) per_second: f64,
    /// Mean members per group-commit batch during the phase (HTTP phases).
    pub(crate) batch: Option<f64>,
    /// CPU the server process spent per request (HTTP phases), in microseconds.
    pub(crate) cpu_us: Option<f64>,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

struct Row {
    connections: usize,
    round: usize,
    name: &'static str,
    http: Measured,
    sql: Measured,
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n{:>5} {:>5} {:<22} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>9} {:>6} {:>11}",
        "conns",
        "round",
        "phase",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "HTTP/SQL",
        "batch",
        "cpu µs/req"
    );
    for row in rows {
        for (what, m, ratio) in [
            (
                format!("{} webhook (HTTP)", row.name),
                &row.http,
                format!("{:.2}x", row.http.per_second / row.sql.per_second),
            ),
            (
                format!("{} per-call SQL", row.name),
                &row.sql,
                String::new(),
            ),
        ] {
            println!(
                "{:>5} {:>5} {:<22} {:>9} {:>6} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>9} {:>6} {:>11}",
                row.connections,
                row.round,
                what,
                m.requests,
                m.errors,
                m.per_second,
                m.p50_ms,
                m.p99_ms,
                m.max_ms,
                ratio,
                m.batch.map(|b| format!("{b:.1}")).unwrap_or_default(),
                m.cpu_us.map(|c| format!("{c:.0}")).unwrap_or_default()
            );
        }
    }
}

/// Per concurrency and webhook, the median over the rounds of HTTP req/s, SQL tx/s, their
/// ratio (each round's own) and the webhook's p99.
fn print_medians(rows: &[Row]) {
    println!(
        "\nmedians over the rounds:\n{:>5} {:<8} {:>10} {:>10} {:>9} {:>12}",
        "conns", "webhook", "HTTP req/s", "SQL tx/s", "HTTP/SQL", "HTTP p99 ms"
    );
    let mut groups: Vec<(usize, &str)> = Vec::new();
    for row in rows {
        if !groups.contains(&(row.connections, row.name)) {
            groups.push((row.connections, row.name));
        }
    }
    for (connections, name) in groups {
        let of = |f: &dyn Fn(&Row) -> f64| {
            median(
                rows.iter()
                    .filter(|r| r.connections == connections && r.name == name)
                    .map(f)
                    .collect(),
            )
        };
        println!(
            "{:>5} {:<8} {:>10.0} {:>10.0} {:>8.2}x {:>12.2}",
            connections,
            name,
            of(&|r| r.http.per_second),
            of(&|r| r.sql.per_second),
            of(&|r| r.http.per_second / r.sql.per_second),
            of(&|r| r.http.p99_ms),
        );
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

struct Phase<'a> {
    connections: usize,
    seconds: u64,
    work: &'a Path,
    client: &'a tokio_postgres::Client,
}

impl Phase<'_> {
    /// Every phase starts right after a checkpoint, so none pays for one that another
    /// phase's writes brought on, and each writes full pages for what it first touches alike.
    async fn checkpoint(&self) {
        if let Err(error) = self.client.batch_execute("CHECKPOINT").await {
            eprintln!(
                "warning: CHECKPOINT before the phase failed ({error}); phases may pay for each other's checkpoints"
            );
        }
    }

    fn threads(&self) -> usize {
        self.connections.min(2)
    }

    /// Writes `requests` pre-signed and drives them at the server with wrk.
    async fn wrk_phase(
        &self,
        wrk: &Path,
        base_url: &str,
        signer: &Signer,
        name: &str,
        requests: &[(&str, FormPairs)],
    ) -> anyhow::Result<Measured> {
        let file = self
            .work
            .join(format!("{name}-{}.requests", self.connections));
        let mut text = String::with_capacity(requests.len() * 900);
        for (path, form) in requests {
            let _ = writeln!(
                text,
                "{path}\t{}\t{}",
                signer.sign(path, form),
                form.encode()
            );
        }
        std::fs::write(&file, text)?;
        self.checkpoint().await;
        let output = Command::new(wrk)
            .arg(format!("-t{}", self.threads()))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("--timeout=5s")
            .arg("-s")
            .arg(self.work.join("wrk.lua"))
            .arg(base_url)
            .arg("--")
            .arg(&file)
            .arg(self.threads().to_string())
            .output()
            .await
            .with_context(|| format!("cannot run {} (apt-get install wrk)", wrk.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "wrk failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .with_context(|| format!("wrk printed no result: {stdout}"))?;
        let n: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .context("wrk's result line does not parse")?;
        anyhow::ensure!(n.len() == 7, "wrk's result line: {line}");
        if n[6] > 0.0 {
            eprintln!(
                "warning: {} of wrk's threads ran out of pre-signed {name} requests and repeated their last",
                n[6]
            );
        }
        Ok(Measured {
            requests: n[0] as u64,
            errors: n[2] as u64,
            per_second: n[0] / (n[1] / 1e6),
            batch: None,
            cpu_us: None,
            p50_ms: n[3] / 1000.0,
            p99_ms: n[4] / 1000.0,
            max_ms: n[5] / 1000.0,
        })
    }

    /// Runs `script` with pgbench (prepared statements, one transaction per statement) and
    /// reads each transaction's latency from its log.
    async fn pgbench(
        &self,
        pgbench: &Path,
        config: &tokio_postgres::Config,
        name: &str,
        script: &str,
    ) -> anyhow::Result<Measured> {
        let dir = self
            .work
            .join(format!("pgbench-{name}-{}", self.connections));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("script.sql");
        std::fs::write(&file, script)?;
        self.checkpoint().await;
        let output = Command::new(pgbench)
            // The plans the webhook writers use, so both sides run the same plans.
            .env(
                "PGOPTIONS",
                format!("-c plan_cache_mode={}", db::pool::WEBHOOK_WRITER_PLANS),
            )
            .arg("--no-vacuum")
            .arg("--protocol=prepared")
            .arg(format!("--client={}", self.connections))
            .arg(format!("--jobs={}", self.threads()))
            .arg(format!("--time={}", self.seconds))
            .arg("--log")
            .arg(format!("--log-prefix={}", dir.join("log").display()))
            .arg(format!("--file={}", file.display()))
            .arg(conninfo(config))
            .current_dir(&dir)
            .output()
            .await
            .with_context(|| format!("cannot run {}", pgbench.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::ensure!(output.status.success(), "pgbench failed: {stdout}{stderr}");
        let tps: f64 = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("pgbench printed no tps: {stdout}"))?;
        let failed: u64 = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("number of failed transactions: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut latency_us = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log."))
            {
                continue;
            }
            for line in std::fs::read_to_string(&path)?.lines() {
                // client, transaction, latency in µs, script, epoch s, µs
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
                    latency_us.saturating_record(std::cmp::max(us, 1));
                }
            }
        }
        let ms = |q: f64| latency_us.value_at_quantile(q) as f64 / 1000.0;
        Ok(Measured {
            requests: latency_us.len(),
            errors: failed,
            per_second: tps,
            batch: None,
            cpu_us: None,
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            max_ms: latency_us.max() as f64 / 1000.0,
        })
    }
}

/// The `serve` process under test, and how the bench reaches it.
struct Server<'a> {
    wrk: &'a Path,
    base_url: &'a str,
    signer: &'a Signer,
    process: &'a ServeProcess,
    http: reqwest::Client,
}

impl Server<'_> {
    /// Drives `requests` at the server with wrk (see [`Phase::wrk_phase`]), and reads the
    /// server's mean batch of `batch_kind` and its CPU per request over the phase.
    async fn drive(
        &self,
        phase: &Phase<'_>,
        name: &str,
        batch_kind: &str,
        requests: &[(&str, FormPairs)],
    ) -> anyhow::Result<Measured> {
        let before = batches(self.process, &self.http, batch_kind).await;
        let cpu_before = cpu_seconds(self.process.pid());
        let mut measured = phase
            .wrk_phase(self.wrk, self.base_url, self.signer, name, requests)
            .await?;
        measured.batch = mean_batch(before, batches(self.process, &self.http, batch_kind).await);
        measured.cpu_us = cpu_before
            .zip(cpu_seconds(self.process.pid()))
            .map(|(b, a)| (a - b) * 1e6 / measured.requests.max(1) as f64);
        Ok(measured)
    }
}

/// The server's group-commit batches of `kind` so far: (members, batches).
async fn batches(serve: &ServeProcess, http: &reqwest::Client, kind: &str) -> Option<(f64, f64)> {
    let metrics = serve.metrics(http).await.ok()?;
    let label = format!("kind=\"{kind}\"");
    Some((
        metrics.sum("calltrack_write_batch_members_sum", &[&label]),
        metrics.sum("calltrack_write_batch_members_count", &[&label]),
    ))
}

/// User and system CPU time of process `pid` so far, in seconds (Linux's `/proc`).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

fn mean_batch(before: Option<(f64, f64)>, after: Option<(f64, f64)>) -> Option<f64> {
    let ((m0, b0), (m1, b1)) = (before?, after?);
    (b1 > b0).then(|| (m1 - m0) / (b1 - b0))
}

/// Each wrk thread takes every n-th pre-signed request (so none is sent twice), sends each
/// once, and reports requests, duration, errors and latency percentiles in microseconds.
const WRK_SCRIPT: &str = r#"
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  threads[counter] = thread
end
function init(args)
  local file, threads = args[1], tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(file) do
    if i % threads == id then
      local path, sig, body = line:match("^(%S+)\t(%S+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body)
    end
    i = i + 1
  end
  n = 0
  exhausted = 0
end
function request()
  n = n + 1
  if n > #reqs then
    n = #reqs
    exhausted = 1
  end
  return reqs[n]
end
function done(summary, latency, requests)
  local e = summary.errors
  local ran_out = 0
  for _, thread in ipairs(threads) do
    ran_out = ran_out + thread:get("exhausted")
  end
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, ran_out))
end
"#;

/// The voice webhook's per-call statement ([`calltrack::db::calls::RECORD_INCOMING_CALL`]) for
/// pgbench: the same text, its parameters drawn as the HTTP phase draws them (a random number,
/// 80% of callers its recipients, a new CallSid each time).
fn voice_script(population: Population) -> String {
    let caller = format!(
        "(CASE WHEN :m <= 80 THEN '+1' || (2120000000 + (:n - 1) * {} + :j)::text \
         ELSE '+1646' || lpad(:u::text, 7, '0') END)",
        population.per_campaign
    );
    let statement = substitute(
        calltrack::db::calls::RECORD_INCOMING_CALL,
        &[
            ("$1", "('+1800' || lpad(:n::text, 7, '0'))".to_owned()),
            ("$2", caller.clone()),
            ("$3", "'ringing'".to_owned()),
            ("$4", CallStatus::Ringing.rank().value().to_string()),
            (
                "$5",
                "('CA' || lpad(to_hex(:a::bigint), 16, '0') || lpad(to_hex(:b::bigint), 16, '0'))"
                    .to_owned(),
            ),
            ("$6", caller),
            ("$7", "NULL".to_owned()),
            ("$8", "NULL".to_owned()),
        ],
    );
    format!(
        "\\set n random(1, {numbers})\n\\set m random(1, 100)\n\\set j random(1, {per})\n\
         \\set u random(0, 9999999)\n\\set a random(0, 9223372036854775806)\n\
         \\set b random(0, 9223372036854775806)\n{statement};\n",
        numbers = population.numbers,
        per = population.per_campaign,
    )
}

/// A status callback's per-call statement ([`calltrack::db::calls::APPLY_PROGRESS`]) for pgbench:
/// the parent's `completed`, on a random session of the run.
fn status_script(sessions: i64) -> String {
    let statement = substitute(
        calltrack::db::calls::APPLY_PROGRESS,
        &[
            ("$10", "NULL".to_owned()),
            ("$1", "(SELECT sid FROM bench_sids WHERE k = :k)".to_owned()),
            ("$2", "'completed'".to_owned()),
            ("$3", CallStatus::Completed.rank().value().to_string()),
            ("$4", "false".to_owned()),
            ("$5", "NULL".to_owned()),
            ("$6", "now()".to_owned()),
            ("$7", "40".to_owned()),
            ("$8", "NULL".to_owned()),
            ("$9", "NULL".to_owned()),
        ],
    );
    format!("\\set k random(1, {})\n{statement};\n", sessions.max(1))
}

/// Replaces each placeholder, longest first as given (`$10` before `$1`).
fn substitute(statement: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(statement.to_owned(), |s, (from, to)| s.replace(from, to))
}

/// The calls of `calls` that have a session, in order.
async fn sessions_of<'a>(
    client: &tokio_postgres::Client,
    calls: &'a [SimulatedCall],
) -> anyhow::Result<Vec<&'a SimulatedCall>> {
    let sids: Vec<&str> = calls.iter().map(|c| c.call_sid.as_str()).collect();
    let rows = client
        .query(
            "SELECT twilio_call_sid FROM call_sessions WHERE twilio_call_sid = ANY($1)",
            &[&sids],
        )
        .await?;
    let taken: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(calls
        .iter()
        .filter(|c| taken.contains(&c.call_sid))
        .collect())
}

/// Status callbacks of the forwarded leg and the parent for `calls`, at most `count`: in
/// blocks of 256 calls, each call's initiated, ringing, answered, completed and the parent's
/// completed one block-round after the other, as calls progress side by side.
fn status_callbacks<'a>(calls: &[&'a SimulatedCall], count: usize) -> Vec<(&'a str, FormPairs)> {
    let now = chrono::Utc::now();
    let mut out = Vec::with_capacity(count);
    for block in calls.chunks(256) {
        for step in 0..5 {
            for call in block {
                let form = match step {
                    0 => call.child_status(Fixture::StatusChildInitiated, now),
                    1 => call.child_status(Fixture::StatusChildRinging, now),
                    2 => call.child_status(Fixture::StatusChildAnswered, now),
                    3 => call.child_completed(30, now),
                    _ => call.parent_completed(40, now),
                };
                out.push(("/twilio/status", form));
                if out.len() == count {
                    return out;
                }
            }
        }
    }
    out
}

/// Numbers the sessions of the run for pgbench to pick from; returns how many.
async fn fill_bench_sids(client: &tokio_postgres::Client) -> anyhow::Result<i64> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_sids;
             CREATE TABLE bench_sids AS
                 SELECT row_number() OVER () AS k, twilio_call_sid AS sid FROM call_sessions;
             ALTER TABLE bench_sids ADD PRIMARY KEY (k);
             ANALYZE bench_sids;",
        )
        .await?;
    Ok(client
        .query_one("SELECT count(*) FROM bench_sids", &[])
        .await?
        .get(0))
}

/// pgbench on PATH, else the newest under `/usr/lib/postgresql/*/bin`.
fn find_pgbench(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbench"))
            .find(|p| p.is_file())
    });
    let installed = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin/pgbench")))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    };
    on_path
        .or_else(installed)
        .context("pgbench not found (apt-get install postgresql-client or postgresql-contrib)")
}

/// Drives one voice phase at `serve`: `calls` pre-signed, wrk over `connections` for
/// `seconds` after a checkpoint (on `client`'s database), as the bench's own voice phases.
pub(crate) async fn voice_phase(
    wrk: &Path,
    serve: &ServeProcess,
    work: &Path,
    client: &tokio_postgres::Client,
    connections: usize,
    seconds: u64,
    calls: &[SimulatedCall],
) -> anyhow::Result<Measured> {
    anyhow::ensure!(connections > 0, "connections must be positive");
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    std::fs::write(work.join("wrk.lua"), WRK_SCRIPT)?;
    let signer = Signer {
        base: serve
            .config()
            .public_base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        token: serve.config().auth_token.clone(),
    };
    let base_url = serve.base_url()?;
    let server = Server {
        wrk,
        base_url: &base_url,
        signer: &signer,
        process: serve,
        http: reqwest::Client::new(),
    };
    let phase = Phase {
        connections,
        seconds,
        work,
        client,
    };
    let voice: Vec<(&str, FormPairs)> =
        calls.iter().map(|c| ("/twilio/voice", c.voice())).collect();
    server.drive(&phase, "voice", "voice", &voice).await
}

/// Pre-signed voice requests a phase of `seconds` at `connections` may need: more than the
/// server can take, as the bench's own phases have.
pub(crate) fn presigned(connections: usize, seconds: u64) -> usize {
    let per_second = if connections == 1 {
        PRESIGNED_PER_SECOND_ALONE
    } else {
        PRESIGNED_PER_SECOND
    };
    usize::try_from(per_second * seconds).unwrap_or(usize::MAX)
}

/// A libpq key/value connection string, which both `DATABASE_URL` and pgbench accept.
pub(crate) fn conninfo(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let mut info = format!(
        "host={host} port={} user={} dbname={}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    );
    if let Some(password) = config.get_password() {
        let _ = write!(info, " password={}", String::from_utf8_lossy(password));
    }
    info
}

/// Creates (once) and seeds (when the population differs) the benchmark database, and
/// empties its sessions so every run starts alike.
pub(crate) async fn prepare_database(
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
