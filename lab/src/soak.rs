//! `calltrack-lab soak`: mixed call traffic against a `serve` child process on a private
//! PostgreSQL cluster, which is stopped and started twice meanwhile; afterwards the spool
//! must drain and the database must hold every call, status and recording the client saw
//! answered, exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::Rng as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant as TokioInstant;

use crate::faults::{
    Audit, CallPlan, FaultCluster, Metrics, PlayedCall, Population, ServeConfig, ServeProcess,
    Webhook, audit_until_clean, send_step,
};
use calltrack::commands::simulate::Target;
use calltrack::db::embedded::StopMode;
use calltrack::twilio::simulated::SimulatedCall;

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// How long new calls are started (`120s`, `2m`, `90`).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Webhook requests per second, every kind together; a call is about 7.6 webhooks, so new
    /// calls start at about rate / 7.6 per second.
    #[arg(long, default_value_t = 300)]
    pub rate: u32,
    /// How long each of the two database outages lasts (at 25% and 60% of the duration).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub outage: Duration,
    /// `VOICE_DEADLINE_MS` of the serve process.
    #[arg(long, default_value_t = 1500)]
    pub deadline_ms: u64,
    /// Tracked numbers to seed (each with 200 recipients).
    #[arg(long, default_value_t = 5)]
    pub numbers: usize,
    /// Keep the temporary directory (cluster, spool, serve logs) for a post-mortem.
    #[arg(long)]
    pub keep: bool,
}

/// Share of calls the business answers.
const ANSWERED_SHARE: f64 = 0.8;
/// Share of callers who are a campaign's recipients.
const MATCHED_SHARE: f64 = 0.75;
/// Webhooks of an answered call and of a missed one, for pacing new calls.
const STEPS_PER_CALL: f64 = ANSWERED_SHARE * 8.0 + (1.0 - ANSWERED_SHARE) * 6.0;
/// When the outages begin, as shares of the duration.
const OUTAGES_AT: [f64; 2] = [0.25, 0.60];
/// How long the spool may take to drain once traffic has ended.
const DRAIN_WITHIN: Duration = Duration::from_secs(600);
/// Calls last up to 27 s: from then on, as many end as start.
const STEADY_FROM: Duration = Duration::from_secs(30);
/// Latencies above this are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Runs the soak; fails (exit status 1) if anything the client saw answered is missing or
/// doubled in the database, or if any webhook went unanswered.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.numbers > 0, "--numbers must be at least 1");
    let binary = crate::calltrack_binary()?;
    let deadline = Duration::from_millis(args.deadline_ms);

    let mut cluster = FaultCluster::create().await?;
    if args.keep {
        cluster.keep_directory();
    }
    cluster.migrate(&binary).await?;
    let population = cluster.seed(args.numbers, 200).await?;
    let config = ServeConfig::new(
        &binary,
        cluster.url(),
        cluster.root().join("serve"),
        deadline,
    );
    let mut serve = ServeProcess::start(config).await?;
    let numbers: Vec<&str> = population
        .lines
        .iter()
        .map(|l| l.tracked_number.as_str())
        .collect();
    serve
        .wait_for_routing(&numbers, Duration::from_secs(30))
        .await?;
    let target = Arc::new(serve.target()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    println!(
        "calltrack-lab soak: {} s at {} webhooks/s ({:.1} new calls/s), {} tracked numbers, \
         VOICE_DEADLINE_MS={}, PostgreSQL stopped at {} for {} s each",
        args.duration.as_secs(),
        args.rate,
        f64::from(args.rate) / STEPS_PER_CALL,
        args.numbers,
        args.deadline_ms,
        OUTAGES_AT
            .iter()
            .map(|f| format!("{:.0} s", args.duration.as_secs_f64() * f))
            .collect::<Vec<_>>()
            .join(" and "),
        args.outage.as_secs(),
    );
    println!("temporary directory: {}", cluster.root().display());

    let started = TokioInstant::now();
    let outage = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn(inject_outages(
        cluster,
        started,
        args.duration,
        args.outage,
        outage.clone(),
    ));
    let (observations, observed) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(observed, deadline, args.duration));
    let (stop_sampling, sampling) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_spool_depth(
        serve.base_url()?,
        http.clone(),
        started,
        sampling,
    ));
    let records = drive(
        &http,
        &target,
        &population,
        &args,
        started,
        &outage,
        observations,
    )
    .await;
    let traffic_ended = started.elapsed();
    let (cluster, outages) = faults.await.context("the fault injector panicked")??;
    let answers = collector.await.context("the collector panicked")?;

    let drain_started = Instant::now();
    let drained = wait_for_drain(&serve, &http).await?;
    let drain_took = drain_started.elapsed();
    let _ = stop_sampling.send(true);
    let depths = sampler.await.context("the spool sampler panicked")?;
    let client = cluster.connect().await?;
    let audit = audit_until_clean(&client, &records, Duration::from_secs(120)).await?;
    let metrics = serve.metrics(&http).await?;
    let totals: (i64, i64) = client
        .query_one(
            "SELECT (SELECT count(*) FROM call_sessions),
                    (SELECT count(*) FROM events WHERE event_type = 'call')",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .context("cannot count sessions")?;

    let report = Report {
        records: &records,
        answers: &answers,
        traffic_ended,
        outages: &outages,
        metrics: &metrics,
        drained,
        drain_took,
        depths: &depths,
        duration: args.duration,
        audit: &audit,
        totals,
    };
    report.print();
    let stopped = serve.terminate(Duration::from_secs(30)).await?;
    if !stopped {
        println!("serve did not stop cleanly on SIGTERM");
    }
    drop(cluster);
    anyhow::ensure!(
        audit.is_clean() && answers.unanswered() == 0,
        "LOST {}, DUPLICATED {}, webhooks not answered 2xx {}",
        audit.lost(),
        audit.duplicated(),
        answers.unanswered()
    );
    Ok(())
}

/// Starts new calls at the rate until the duration is over, then waits for every call to
/// finish; returns what the client saw of each.
async fn drive(
    http: &reqwest::Client,
    target: &Arc<Target>,
    population: &Population,
    args: &SoakArgs,
    started: TokioInstant,
    outage: &Arc<AtomicBool>,
    observations: mpsc::UnboundedSender<Observation>,
) -> Vec<PlayedCall> {
    let interval = Duration::from_secs_f64(STEPS_PER_CALL / f64::from(args.rate));
    let mut calls = JoinSet::new();
    let mut next = started;
    while next < started + args.duration {
        tokio::time::sleep_until(next).await;
        let plan = random_plan(population);
        let (http, target, outage) = (http.clone(), target.clone(), outage.clone());
        let observations = observations.clone();
        calls.spawn(async move {
            let begun = TokioInstant::now();
            let mut record = plan.record();
            for step in &plan.steps {
                let due = begun + step.at;
                tokio::time::sleep_until(due).await;
                let lag = due.elapsed();
                let sent_at = started.elapsed();
                let during_outage = outage.load(Ordering::Relaxed);
                let answer = send_step(&http, &target, step, &plan.call.forward_to).await;
                record.note(&answer);
                let _ = observations.send(Observation {
                    webhook: step.kind.webhook(),
                    during_outage,
                    elapsed: answer.elapsed,
                    sent_at,
                    lag,
                    problem: answer.problem,
                });
            }
            record
        });
        next += interval;
    }
    drop(observations);
    let mut records = Vec::with_capacity(calls.len());
    while let Some(record) = calls.join_next().await {
        if let Ok(record) = record {
            records.push(record);
        }
    }
    records
}

/// A new call on a random number: answered after a few seconds' ringing and a short talk,
/// or ringing out; from a recipient or a stranger.
fn random_plan(population: &Population) -> CallPlan {
    let mut rng = rand::thread_rng();
    let line = &population.lines[rng.gen_range(0..population.lines.len())];
    let from = if rng.gen_bool(MATCHED_SHARE) && !line.recipients.is_empty() {
        line.recipients[rng.gen_range(0..line.recipients.len())].clone()
    } else {
        format!("+1646555{:04}", rng.gen_range(0..10_000))
    };
    let call = SimulatedCall::new(&from, &line.tracked_number, &line.forward_to);
    if rng.gen_bool(ANSWERED_SHARE) {
        CallPlan::answered(call, rng.gen_range(2..=6), rng.gen_range(3..=20))
    } else {
        CallPlan::missed(call, rng.gen_range(8..=15))
    }
}

/// One outage as it happened, in seconds since traffic began.
#[derive(Debug, Clone, Copy)]
struct Outage {
    began: f64,
    stopped_after: f64,
    ended: f64,
}

/// Stops PostgreSQL at each of [`OUTAGES_AT`] for `length`, then starts it again; returns
/// the cluster once traffic is over.
async fn inject_outages(
    mut cluster: FaultCluster,
    started: TokioInstant,
    duration: Duration,
    length: Duration,
    outage: Arc<AtomicBool>,
) -> crate::faults::Result<(FaultCluster, Vec<Outage>)> {
    let mut outages = Vec::new();
    for share in OUTAGES_AT {
        tokio::time::sleep_until(started + duration.mul_f64(share)).await;
        outage.store(true, Ordering::Relaxed);
        let began = started.elapsed().as_secs_f64();
        cluster.stop(StopMode::Fast).await?;
        let stopped_after = started.elapsed().as_secs_f64() - began;
        tokio::time::sleep(length).await;
        cluster.start().await?;
        outage.store(false, Ordering::Relaxed);
        outages.push(Outage {
            began,
            stopped_after,
            ended: started.elapsed().as_secs_f64(),
        });
    }
    Ok((cluster, outages))
}

/// Scrapes the spool depth four times a second until `stop`; returns (seconds since traffic
/// began, depth) samples. A failed scrape is skipped.
async fn sample_spool_depth(
    base_url: String,
    http: reqwest::Client,
    started: TokioInstant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(f64, f64)> {
    let mut samples = Vec::new();
    while !*stop.borrow() {
        if let Ok(metrics) = Metrics::scrape(&http, &base_url).await {
            let depth = metrics.sum("calltrack_spool_depth", &[]);
            samples.push((started.elapsed().as_secs_f64(), depth));
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
        }
    }
    samples
}

/// Waits until the spool is empty; returns whether it got there.
async fn wait_for_drain(serve: &ServeProcess, http: &reqwest::Client) -> anyhow::Result<bool> {
    let until = Instant::now() + DRAIN_WITHIN;
    while Instant::now() < until {
        let depth = serve.metrics(http).await?.sum("calltrack_spool_depth", &[]);
        if depth == 0.0 && serve.spool_segments() == 0 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(false)
}

/// One answer as the collector receives it.
struct Observation {
    webhook: Webhook,
    during_outage: bool,
    elapsed: Duration,
    /// When it was sent, since traffic began.
    sent_at: Duration,
    /// How late the load generator sent it: a large lag means the generator is saturated.
    lag: Duration,
    problem: Option<String>,
}

/// Answer times and outcomes, by webhook and by whether the database was away.
struct Answers {
    latency: BTreeMap<(Webhook, bool), Histogram<u64>>,
    sent: u64,
    acked: u64,
    late: u64,
    lag: Histogram<u64>,
    problems: HashMap<String, u64>,
    bound: Duration,
    /// Sent within [`STEADY_FROM`, the duration): once calls started at the beginning end as
    /// fast as new ones start.
    steady: u64,
    steady_window: Duration,
}

impl Answers {
    fn unanswered(&self) -> u64 {
        self.sent - self.acked
    }
}

async fn collect(
    mut observed: mpsc::UnboundedReceiver<Observation>,
    deadline: Duration,
    duration: Duration,
) -> Answers {
    let steady_from = if duration >= STEADY_FROM * 2 {
        STEADY_FROM
    } else {
        Duration::ZERO
    };
    let histogram = || {
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| unreachable!())
    };
    let mut answers = Answers {
        latency: BTreeMap::new(),
        sent: 0,
        acked: 0,
        late: 0,
        lag: histogram(),
        problems: HashMap::new(),
        bound: deadline + Duration::from_millis(500),
        steady: 0,
        steady_window: duration.saturating_sub(steady_from),
    };
    while let Some(o) = observed.recv().await {
        answers.sent += 1;
        if o.sent_at >= steady_from && o.sent_at < duration {
            answers.steady += 1;
        }
        let micros = u64::try_from(o.elapsed.as_micros()).unwrap_or(u64::MAX);
        answers
            .latency
            .entry((o.webhook, o.during_outage))
            .or_insert_with(histogram)
            .saturating_record(micros.max(1));
        answers
            .lag
            .saturating_record(u64::try_from(o.lag.as_micros()).unwrap_or(u64::MAX).max(1));
        if o.elapsed >= answers.bound {
            answers.late += 1;
        }
        match o.problem {
            None => answers.acked += 1,
            Some(problem) => {
                // Keyed by its first words, so one cause counts once however many calls it hit.
                let key: String = problem.chars().take(60).collect();
                *answers.problems.entry(key).or_default() += 1;
            }
        }
    }
    answers
}

struct Report<'a> {
    records: &'a [PlayedCall],
    answers: &'a Answers,
    traffic_ended: Duration,
    outages: &'a [Outage],
    metrics: &'a Metrics,
    drained: bool,
    drain_took: Duration,
    /// Spool depth over time: (seconds since traffic began, records).
    depths: &'a [(f64, f64)],
    duration: Duration,
    audit: &'a Audit,
    totals: (i64, i64),
}

impl Report<'_> {
    fn print(&self) {
        let a = self.answers;
        let ms = |us: u64| us as f64 / 1000.0;
        println!();
        for (i, o) in self.outages.iter().enumerate() {
            println!(
                "outage {}: PostgreSQL stopped at {:.1} s (pg_ctl stop took {:.1} s), started again, up at {:.1} s",
                i + 1,
                o.began,
                o.stopped_after,
                o.ended
            );
        }
        println!(
            "calls started               {} ({} answered by the business, {} missed)",
            self.records.len(),
            self.records.iter().filter(|r| r.answered).count(),
            self.records.iter().filter(|r| !r.answered).count()
        );
        println!(
            "webhooks sent               {} until the last call ended at {:.1} s; {:.0}/s from {:.0} s to {:.0} s",
            a.sent,
            self.traffic_ended.as_secs_f64(),
            a.steady as f64 / a.steady_window.as_secs_f64().max(1.0),
            (self.duration - a.steady_window).as_secs_f64(),
            self.duration.as_secs_f64()
        );
        println!("answered 2xx                {}", a.acked);
        println!(
            "other                       {} (not answered, not 2xx, or a voice answer without the <Dial>)",
            a.unanswered()
        );
        for (problem, n) in &a.problems {
            println!("    {n} x {problem}");
        }
        println!(
            "{:<28}{}",
            format!("answered after {} ms", a.bound.as_millis()),
            a.late
        );
        println!(
            "load generator lag          p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(a.lag.value_at_quantile(0.5)),
            ms(a.lag.value_at_quantile(0.99)),
            ms(a.lag.max())
        );
        println!(
            "\ntime to answer (ms)   {:>28}   {:>28}",
            "database up: n / p50 / p99 / max", "during outages: n / p50 / p99 / max"
        );
        let cell = |h: Option<&Histogram<u64>>| match h {
            Some(h) if !h.is_empty() => format!(
                "{} / {:.1} / {:.1} / {:.1}",
                h.len(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            ),
            _ => "-".to_owned(),
        };
        let mut all = [None::<Histogram<u64>>, None];
        for webhook in Webhook::ALL {
            let up = a.latency.get(&(webhook, false));
            let down = a.latency.get(&(webhook, true));
            println!(
                "  {:<18}  {:>32}   {:>32}",
                webhook.label(),
                cell(up),
                cell(down)
            );
            for (slot, h) in all.iter_mut().zip([up, down]) {
                if let Some(h) = h {
                    match slot {
                        Some(total) => {
                            let _ = total.add(h);
                        }
                        None => *slot = Some(h.clone()),
                    }
                }
            }
        }
        println!(
            "  {:<18}  {:>32}   {:>32}",
            "all",
            cell(all[0].as_ref()),
            cell(all[1].as_ref())
        );
        let m = self.metrics;
        let by = |name: &str, label: &str, values: &[&str]| {
            values
                .iter()
                .map(|v| format!("{v} {}", m.sum(name, &[&format!("{label}=\"{v}\"")])))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "\nrecords spooled             {} (fail-open answers: {})",
            m.sum("calltrack_fail_open_answers_total", &[]),
            by(
                "calltrack_fail_open_answers_total",
                "webhook",
                &["voice", "status", "dial", "recording"]
            )
        );
        println!(
            "records replayed            {} ({})",
            m.sum("calltrack_spool_replayed_total", &[]),
            by(
                "calltrack_spool_replayed_total",
                "outcome",
                &["applied", "already_applied", "unreadable", "set_aside"]
            )
        );
        println!(
            "spool write failures        {}",
            m.sum("calltrack_spool_write_failures_total", &[])
        );
        for (i, o) in self.outages.iter().enumerate() {
            let until = self
                .outages
                .get(i + 1)
                .map_or(f64::INFINITY, |next| next.began);
            let peak = self
                .depths
                .iter()
                .filter(|(t, _)| *t >= o.began && *t < until)
                .map(|(_, d)| *d)
                .fold(0.0, f64::max);
            let empty = self
                .depths
                .iter()
                .find(|(t, d)| *t >= o.ended && *t < until && *d == 0.0)
                .map_or("not before the next outage".to_owned(), |(t, _)| {
                    format!("{:.1} s after PostgreSQL was up again", t - o.ended)
                });
            println!(
                "{:<28}peaked at {peak} records, empty {empty}",
                format!("outage {} spool", i + 1)
            );
        }
        println!(
            "spool drained               {} ({:.1} s after the last call ended)",
            if self.drained { "yes" } else { "NO" },
            self.drain_took.as_secs_f64()
        );
        println!(
            "database                    {} sessions, {} call events",
            self.totals.0, self.totals.1
        );
        println!("audit                       {}", self.audit);
        println!(
            "LOST {}   DUPLICATED {}",
            self.audit.lost(),
            self.audit.duplicated()
        );
    }
}

/// `120s`, `2m`, `1500ms` or plain seconds.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration such as 120s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{raw:?}: the unit must be ms, s or m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_seconds_minutes_or_milliseconds() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
