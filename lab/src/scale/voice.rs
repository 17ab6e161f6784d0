//! The voice webhook on the big database beside the bench's fresh one (`calltrack_bench`,
//! sessions emptied), phase for phase in the same run, with what the database did for it:
//! blocks read from outside shared buffers, WAL and full-page images per call, the sizes of
//! the indexes every insert touches, and the insert's own `EXPLAIN (ANALYZE, BUFFERS, WAL)`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

use super::seed::{FORWARD_TO, Plan};
use super::{DEADLINE, ScaleArgs};
use crate::bench::{self, BenchArgs, Measured, Population};
use crate::faults::{ServeConfig, ServeProcess};
use calltrack::domain::CallStatus;
use calltrack::twilio::simulated::SimulatedCall;

/// Statements explained on each database.
const EXPLAINED: usize = 20;

/// What the database did during a phase (cluster-wide WAL; the rest this database's).
#[derive(Debug, Clone, Default)]
struct Snapshot {
    wal_records: i64,
    wal_fpi: i64,
    wal_bytes: f64,
    blks_read: i64,
    blks_hit: i64,
    /// Per index of `call_sessions`: blocks read, blocks hit.
    indexes: BTreeMap<String, (i64, i64)>,
}

async fn snapshot(client: &tokio_postgres::Client) -> anyhow::Result<Snapshot> {
    let wal = client
        .query_one(
            "SELECT wal_records, wal_fpi, wal_bytes::float8 FROM pg_stat_wal",
            &[],
        )
        .await?;
    let db = client
        .query_one(
            "SELECT blks_read, blks_hit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    let indexes = client
        .query(
            "SELECT indexrelname::text, coalesce(idx_blks_read, 0), coalesce(idx_blks_hit, 0)
             FROM pg_statio_user_indexes WHERE relname = 'call_sessions'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    Ok(Snapshot {
        wal_records: wal.get(0),
        wal_fpi: wal.get(1),
        wal_bytes: wal.get(2),
        blks_read: db.get(0),
        blks_hit: db.get(1),
        indexes,
    })
}

impl Snapshot {
    fn since(&self, before: &Self) -> Self {
        Self {
            wal_records: self.wal_records - before.wal_records,
            wal_fpi: self.wal_fpi - before.wal_fpi,
            wal_bytes: self.wal_bytes - before.wal_bytes,
            blks_read: self.blks_read - before.blks_read,
            blks_hit: self.blks_hit - before.blks_hit,
            indexes: self
                .indexes
                .iter()
                .map(|(name, (read, hit))| {
                    let (r0, h0) = before.indexes.get(name).copied().unwrap_or_default();
                    (name.clone(), (read - r0, hit - h0))
                })
                .collect(),
        }
    }
}

/// One side of the comparison: a database, its server, who calls it.
struct Side<'a> {
    label: &'static str,
    serve: &'a ServeProcess,
    client: &'a tokio_postgres::Client,
    calls: Box<dyn Fn() -> SimulatedCall + 'a>,
    /// Empties the sessions before each phase (the fresh database).
    reset: bool,
}

struct Phase {
    side: &'static str,
    connections: usize,
    round: usize,
    measured: Measured,
    db: Snapshot,
}

/// Alternates voice phases on the bench's fresh database and on this one; returns when the
/// first call of the run was taken, so [`clean_up`] can remove what the run added.
pub(super) async fn run(
    args: &ScaleArgs,
    admin: &tokio_postgres::Config,
    serve: &ServeProcess,
    client: &tokio_postgres::Client,
    plan: &Plan,
    work: &Path,
) -> anyhow::Result<DateTime<Utc>> {
    let started: DateTime<Utc> = client.query_one("SELECT now()", &[]).await?.get(0);
    let bench_args = BenchArgs {
        connections: args.voice_connections.clone(),
        seconds: args.voice_seconds,
        rounds: args.voice_rounds,
        numbers: 1_000,
        recipients: 1_000_000,
        database: "calltrack_bench".to_owned(),
        wrk: args.wrk.clone(),
        pgbench: None,
        serve_binary: args.serve_binary.clone(),
        work_dir: None,
    };
    let fresh_config = bench::prepare_database(admin, &bench_args).await?;
    let fresh_client = calltrack::db::pool::connect(&fresh_config).await?;
    let mut fresh_serve_config = ServeConfig::new(
        &serve.config().binary,
        &bench::conninfo(&fresh_config),
        work.join("serve-fresh"),
        DEADLINE,
    );
    fresh_serve_config.more_env = args.serve_env.clone();
    let fresh_serve = ServeProcess::start(fresh_serve_config).await?;
    let fresh_population = Population {
        numbers: bench_args.numbers,
        per_campaign: bench_args.recipients / bench_args.numbers,
    };
    let plan = *plan;
    let sides = [
        Side {
            label: "fresh (calltrack_bench)",
            serve: &fresh_serve,
            client: &fresh_client,
            calls: Box::new(move || fresh_population.random_call()),
            reset: true,
        },
        Side {
            label: "scale",
            serve,
            client,
            calls: Box::new(move || scale_call(&plan)),
            reset: false,
        },
    ];
    println!(
        "\nvoice webhook, wrk from outside, {} s phases after a CHECKPOINT each, alternating; \
         WAL is the cluster's (other work on it counts too), blocks the database's",
        args.voice_seconds
    );
    let mut phases = Vec::new();
    for round in 1..=args.voice_rounds.max(1) {
        for &connections in &args.voice_connections {
            for side in &sides {
                if side.reset {
                    crate::seed::reset_sessions(side.client).await?;
                }
                let calls: Vec<SimulatedCall> =
                    (0..bench::presigned(connections, args.voice_seconds))
                        .map(|_| (side.calls)())
                        .collect();
                let before = snapshot(side.client).await?;
                let measured = bench::voice_phase(
                    &args.wrk,
                    side.serve,
                    &work.join(format!("voice-{}", side.reset)),
                    side.client,
                    connections,
                    args.voice_seconds,
                    &calls,
                )
                .await?;
                // Backends report their statistics when idle, within a second.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let db = snapshot(side.client).await?.since(&before);
                let phase = Phase {
                    side: side.label,
                    connections,
                    round,
                    measured,
                    db,
                };
                print_phase(&phase);
                phases.push(phase);
            }
        }
    }
    print_medians(
        &phases,
        &args.voice_connections,
        &sides.iter().map(|s| s.label).collect::<Vec<_>>(),
    );
    print_indexes(&phases);
    for side in &sides {
        sizes(side.label, side.client).await?;
    }
    for side in &sides {
        explain(side.label, side.client, &*side.calls).await?;
    }
    Ok(started)
}

/// A call to a random tracked number of the scale database: the big campaign as often as it
/// has sessions, 80% of callers the number's campaign's recipients.
fn scale_call(plan: &Plan) -> SimulatedCall {
    let mut rng = rand::thread_rng();
    let campaign = if rng.gen_bool(plan.big_sessions as f64 / plan.sessions() as f64) {
        0
    } else {
        rng.gen_range(1..plan.campaigns)
    };
    let to = format!("+1800{campaign:07}");
    let from = if rng.gen_bool(0.8) {
        let k = plan.first_recipient(campaign) + rng.gen_range(0..plan.recipients_of(campaign));
        format!("+1{}", Plan::recipient_digits(k))
    } else {
        format!("+1646{:07}", rng.gen_range(0..10_000_000))
    };
    SimulatedCall::new(&from, &to, FORWARD_TO)
}

fn per(value: f64, requests: u64) -> f64 {
    value / requests.max(1) as f64
}

fn print_phase(p: &Phase) {
    let m = &p.measured;
    println!(
        "{:<24} conns {:>3} round {} {:>7.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms max {:>7.2} ms errors {} \
         cpu {:>4.0} µs/req | WAL {:>6.0} B/req, {:>4.2} FPI/req | blocks read {:>5.2}/req, hit {:>6.1}/req",
        p.side,
        p.connections,
        p.round,
        m.per_second,
        m.p50_ms,
        m.p99_ms,
        m.max_ms,
        m.errors,
        m.cpu_us.unwrap_or(f64::NAN),
        per(p.db.wal_bytes, m.requests),
        per(p.db.wal_fpi as f64, m.requests),
        per(p.db.blks_read as f64, m.requests),
        per(p.db.blks_hit as f64, m.requests),
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn print_medians(phases: &[Phase], connections: &[usize], sides: &[&'static str]) {
    println!("\nvoice medians over the rounds:");
    for &c in connections {
        for side in sides {
            let of = |f: &dyn Fn(&Phase) -> f64| {
                median(
                    phases
                        .iter()
                        .filter(|p| p.connections == c && p.side == *side)
                        .map(f)
                        .collect(),
                )
            };
            println!(
                "{:<24} conns {:>3}: {:>7.0} req/s, p50 {:.2} ms, p99 {:.2} ms, WAL {:.0} B/req, {:.2} FPI/req, blocks read {:.2}/req",
                side,
                c,
                of(&|p| p.measured.per_second),
                of(&|p| p.measured.p50_ms),
                of(&|p| p.measured.p99_ms),
                of(&|p| per(p.db.wal_bytes, p.measured.requests)),
                of(&|p| per(p.db.wal_fpi as f64, p.measured.requests)),
                of(&|p| per(p.db.blks_read as f64, p.measured.requests)),
            );
        }
    }
}

/// Blocks of each `call_sessions` index read from outside shared buffers and found in them,
/// per call, summed over each side's phases.
fn print_indexes(phases: &[Phase]) {
    println!(
        "\ncall_sessions indexes, blocks per call over all phases (read from outside shared buffers / hit):"
    );
    let mut totals: BTreeMap<(&str, String), (i64, i64)> = BTreeMap::new();
    let mut requests: BTreeMap<&str, u64> = BTreeMap::new();
    for p in phases {
        *requests.entry(p.side).or_default() += p.measured.requests;
        for (name, (read, hit)) in &p.db.indexes {
            let total = totals.entry((p.side, name.clone())).or_default();
            total.0 += read;
            total.1 += hit;
        }
    }
    for ((side, name), (read, hit)) in totals {
        let n = requests.get(side).copied().unwrap_or(0);
        println!(
            "  {side:<24} {name:<44} read {:>5.2}  hit {:>5.2}",
            per(read as f64, n),
            per(hit as f64, n)
        );
    }
}

/// The sizes of `call_sessions` and each of its indexes, against shared_buffers.
async fn sizes(label: &str, client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, pg_size_pretty(pg_relation_size(c.oid))
             FROM pg_class c
             WHERE c.oid = 'call_sessions'::regclass
                OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'call_sessions'::regclass)
             ORDER BY pg_relation_size(c.oid) DESC",
            &[],
        )
        .await?;
    let buffers: String = client.query_one("SHOW shared_buffers", &[]).await?.get(0);
    let listed: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    println!("\n{label}: shared_buffers {buffers}; {}", listed.join(", "));
    Ok(())
}

/// `EXPLAIN (ANALYZE, BUFFERS, WAL)` of the voice statement for new calls, each in a
/// transaction rolled back, right after a checkpoint: what one insert touches and writes.
async fn explain(
    label: &str,
    client: &tokio_postgres::Client,
    calls: &dyn Fn() -> SimulatedCall,
) -> anyhow::Result<()> {
    client.batch_execute("CHECKPOINT").await?;
    let statement = format!(
        "EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) {}",
        calltrack::db::calls::RECORD_INCOMING_CALL
    );
    let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
    let fields = [
        "Shared Hit Blocks",
        "Shared Read Blocks",
        "Shared Dirtied Blocks",
        "Shared Written Blocks",
        "WAL Records",
        "WAL FPI",
        "WAL Bytes",
    ];
    for _ in 0..EXPLAINED {
        let call = calls();
        let form = call.voice();
        let field = |name: &str| {
            form.pairs()
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (to, from, sid) = (field("To"), field("From"), field("CallSid"));
        client.batch_execute("BEGIN").await?;
        let row = client
            .query_one(
                &statement,
                &[
                    &to,
                    &from,
                    &CallStatus::Ringing.as_str(),
                    &CallStatus::Ringing.rank().value(),
                    &sid,
                    &from,
                    &None::<DateTime<Utc>>,
                    &None::<String>,
                ],
            )
            .await;
        client.batch_execute("ROLLBACK").await?;
        let plan: serde_json::Value = row?.get(0);
        let top = &plan[0]["Plan"];
        for f in fields {
            *sums.entry(f).or_default() += top[f].as_f64().unwrap_or(0.0);
        }
        *sums.entry("Execution Time").or_default() +=
            plan[0]["Execution Time"].as_f64().unwrap_or(0.0);
    }
    let mean = |f: &str| sums.get(f).copied().unwrap_or(0.0) / EXPLAINED as f64;
    println!(
        "{label}: EXPLAIN (ANALYZE, BUFFERS, WAL) of the voice statement, mean of {EXPLAINED} new calls after a CHECKPOINT: \
         {:.3} ms; shared hit {:.1}, read {:.1}, dirtied {:.1}, written {:.1}; WAL {:.1} records, {:.1} FPI, {:.0} bytes",
        mean("Execution Time"),
        mean("Shared Hit Blocks"),
        mean("Shared Read Blocks"),
        mean("Shared Dirtied Blocks"),
        mean("Shared Written Blocks"),
        mean("WAL Records"),
        mean("WAL FPI"),
        mean("WAL Bytes"),
    );
    Ok(())
}

/// Removes the sessions and call events the voice phases added to the scale database (all
/// created after `since`; the seed's are older), and vacuums what they left.
pub(super) async fn clean_up(
    client: &tokio_postgres::Client,
    since: DateTime<Utc>,
) -> anyhow::Result<()> {
    let sessions = client
        .execute(
            "DELETE FROM call_sessions WHERE created_at >= $1",
            &[&since],
        )
        .await?;
    let events = client
        .execute(
            "DELETE FROM events WHERE event_type = 'call' AND created_at >= $1",
            &[&since],
        )
        .await?;
    // One statement each: VACUUM cannot run in the implicit transaction of a batch.
    client.batch_execute("VACUUM ANALYZE call_sessions").await?;
    client.batch_execute("VACUUM ANALYZE events").await?;
    println!("removed the {sessions} sessions and {events} call events the voice phases added");
    Ok(())
}
