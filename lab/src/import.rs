//! `calltrack-lab import`: the recipients import measured from outside. A `serve` child on a
//! fresh database, one campaign, and a CSV of N recipients (phones in four formats) generated
//! as it is sent, posted as one streamed request; then the same file again (every line an
//! update). Reports rows/s for each, the server's resident memory before and its peak
//! (`VmHWM`), and the list's searches on the imported campaign.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use calltrack::config::DatabaseSource;
use calltrack::db;
use serde_json::Value;
use uuid::Uuid;

use crate::faults::{ServeConfig, ServeProcess};

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Recipients in the file.
    #[arg(long, default_value_t = 1_000_000)]
    pub recipients: usize,
    /// Name of the database (created afresh on the server DATABASE_URL points at).
    #[arg(long, default_value = "calltrack_import_bench")]
    pub database: String,
    /// The `calltrack` binary to serve with (default: the one cargo built beside this one).
    #[arg(long)]
    pub serve_binary: Option<std::path::PathBuf>,
}

/// Lines per chunk of the streamed body.
const CHUNK_LINES: usize = 5_000;

pub async fn run(args: ImportArgs, database: DatabaseSource) -> anyhow::Result<()> {
    let source = database;
    let database = tokio::task::spawn_blocking(move || db::Database::open(&source)).await??;
    let config = crate::rewards::fresh_database(&database.config, &args.database).await?;
    let client = db::pool::connect(&config).await?;
    let api_key = format!("ck_{}", Uuid::new_v4().simple());
    let campaign: Uuid = client
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id),
                  c AS (INSERT INTO clients (org_id, name, api_key_hash)
                        SELECT id, 'Roofing', encode(sha256(convert_to($1, 'UTF8')), 'hex') FROM o RETURNING id)
             INSERT INTO campaigns (client_id, name) SELECT id, 'Spring mailer' FROM c RETURNING id",
            &[&api_key],
        )
        .await?
        .get(0);

    let binary = match &args.serve_binary {
        Some(binary) => binary.clone(),
        None => crate::calltrack_binary()?,
    };
    let work = std::env::temp_dir().join(format!("calltrack-import-{}", std::process::id()));
    let serve = ServeProcess::start(ServeConfig::new(
        &binary,
        &crate::bench::conninfo(&config),
        work.join("serve"),
        Duration::from_millis(1500),
    ))
    .await?;
    let pid = serve.pid().context("the serve child has no pid")?;
    let base_url = serve.base_url()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let url = format!("{base_url}/api/v1/campaigns/{campaign}/recipients");
    let size: usize = (0..args.recipients).map(|n| line(n).len()).sum::<usize>() + HEADER.len();
    println!(
        "calltrack-lab import: {} recipients, {:.1} MB of CSV in one streamed request",
        args.recipients,
        size as f64 / 1e6
    );
    anyhow::ensure!(
        size <= 50 * 1024 * 1024,
        "{size} bytes is over the 50 MB an import takes; send fewer recipients"
    );
    let before = memory(pid)?;
    println!(
        "  serve RSS before: {:.1} MB (peak so far {:.1} MB)",
        before.rss_kb as f64 / 1024.0,
        before.hwm_kb as f64 / 1024.0
    );
    let mut phases = Vec::new();
    for phase in ["added", "updated"] {
        let started = Instant::now();
        let response = http
            .post(&url)
            .header("x-api-key", &api_key)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(body(args.recipients)))
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(status == 200, "the import answered {status}: {answer}");
        let done = answer[phase].as_u64().unwrap_or_default();
        anyhow::ensure!(
            done == args.recipients as u64 && answer["rejected_total"] == 0,
            "{phase}: {answer}"
        );
        let after = memory(pid)?;
        println!(
            "  {phase:<8} {done:>9} in {seconds:>6.1} s: {:>7.0} rows/s; serve RSS after {:.1} MB, peak {:.1} MB",
            done as f64 / seconds,
            after.rss_kb as f64 / 1024.0,
            after.hwm_kb as f64 / 1024.0
        );
        phases.push(seconds);
    }
    let stored: i64 = client
        .query_one(
            "SELECT count(*) FROM recipients WHERE campaign_id = $1 AND phone_e164 IS NOT NULL",
            &[&campaign],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        stored == i64::try_from(args.recipients)?,
        "{stored} recipients stored"
    );
    client.batch_execute("VACUUM ANALYZE recipients").await?;
    println!("  list searches on the imported campaign (median of 5, from outside):");
    let middle = args.recipients / 2;
    for (what, q) in [
        ("first page", String::new()),
        ("code prefix", format!("R{:07}", middle)[..6].to_owned()),
        ("phone", formatted_phone(middle, 0)),
        ("last name prefix", "Lee".to_owned()),
        ("no match", "Zz".to_owned()),
    ] {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let page: Value = http
                .get(&url)
                .query(&[("q", q.as_str()), ("limit", "50")])
                .header("x-api-key", &api_key)
                .send()
                .await?
                .json()
                .await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            found = page["items"].as_array().map_or(0, Vec::len);
        }
        times.sort_by(f64::total_cmp);
        println!("    {what:<17} {:>8.1} ms ({found} found)", times[2]);
    }
    drop(serve);
    drop(client);
    let _ = std::fs::remove_dir_all(&work);
    database.shutdown()?;
    Ok(())
}

const HEADER: &str = "first_name,last_name,phone,redemption_code\n";

/// A US number in one of four ways people write them.
fn formatted_phone(n: usize, way: usize) -> String {
    let digits = format!("{:010}", 2_120_000_000 + n);
    let (area, exchange, line) = (&digits[..3], &digits[3..6], &digits[6..]);
    match way % 4 {
        0 => format!("({area}) {exchange}-{line}"),
        1 => format!("{area}.{exchange}.{line}"),
        2 => format!("+1 {area} {exchange} {line}"),
        _ => format!("+1{area}{exchange}{line}"),
    }
}

fn line(n: usize) -> String {
    let last = ["Lee", "Ng", "Smith", "Garcia", "Kim"][n % 5];
    format!("Ann,{last},{},R{n:07}\n", formatted_phone(n, n))
}

/// The file, made chunk by chunk as the request sends it.
fn body(
    recipients: usize,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks = recipients.div_ceil(CHUNK_LINES);
    futures::stream::iter((0..chunks).map(move |chunk| {
        let mut out = if chunk == 0 {
            HEADER.as_bytes().to_vec()
        } else {
            Vec::new()
        };
        for n in chunk * CHUNK_LINES..((chunk + 1) * CHUNK_LINES).min(recipients) {
            out.extend_from_slice(line(n).as_bytes());
        }
        Ok(out)
    }))
}

struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

/// The process's resident memory now and at its peak, from `/proc/<pid>/status`.
fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}
