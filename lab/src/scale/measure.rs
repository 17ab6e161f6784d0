//! The consoles' requests timed from outside (HTTP, the users' tokens, one at a time) beside
//! the same use case called in-process on a pool of the same database with the same
//! principal ("SQL alone"), and the big campaign's CSV export with the server's memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt as _;
use secrecy::SecretString;
use uuid::Uuid;

use super::ScaleArgs;
use super::seed::Keys;
use crate::faults::ServeProcess;
use calltrack::app::{self, Caller, PgPool};
use calltrack::auth::Principal;
use calltrack::domain::{Bucket, MatchStatus, SeriesWindow, TimeRange};

/// Warm-up requests before the timed ones.
const WARM_UPS: usize = 3;
/// Page size of the lists, as the consoles ask.
const PAGE: i64 = 50;
/// How deep the deep page is: the page after this many pages.
const DEEP_PAGES: i64 = 100;
/// The longest the CSV export is read before it is cut off and measured as far as it got.
const CSV_LIMIT: Duration = Duration::from_secs(900);
/// SQL alone runs without the service's deadline; this only stops a runaway statement.
const SQL_TIMEOUT: Duration = Duration::from_secs(600);

/// One request the consoles make.
#[derive(Debug, Clone)]
enum Ask {
    Campaigns {
        limit: i64,
    },
    Campaign,
    Stats {
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    },
    Series {
        bucket: Bucket,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    },
    Numbers,
    Sessions {
        campaign: bool,
        unmatched: bool,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    },
    Session(Uuid),
}

impl Ask {
    /// p95 goal of issue 27: lists and details 50 ms, every other manager request 100 ms.
    fn goal_ms(&self) -> f64 {
        match self {
            Self::Stats { .. } | Self::Series { .. } => 100.0,
            _ => 50.0,
        }
    }
}

/// Who asks.
struct User {
    label: &'static str,
    principal: Principal,
    token: String,
}

/// Latencies of one side of a row, and what failed.
#[derive(Debug, Default)]
pub(super) struct Samples {
    ms: Vec<f64>,
    failures: BTreeMap<String, usize>,
}

impl Samples {
    fn quantile(&self, q: f64) -> Option<f64> {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted.get(rank - 1).copied()
    }

    fn max(&self) -> Option<f64> {
        self.ms.iter().copied().reduce(f64::max)
    }

    fn status(&self) -> String {
        if self.failures.is_empty() {
            return "ok".to_owned();
        }
        self.failures
            .iter()
            .map(|(what, n)| format!("{what}×{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One line of the table.
pub(super) struct Row {
    what: String,
    who: &'static str,
    goal_ms: f64,
    http: Samples,
    sql: Samples,
}

/// The export's figures.
pub(super) struct Export {
    http_rows: u64,
    http_seconds: f64,
    http_complete: bool,
    sql_rows: u64,
    sql_seconds: f64,
    rss_before_kib: Option<u64>,
    rss_peak_kib: Option<u64>,
    rss_after_kib: Option<u64>,
}

pub(super) struct Measured {
    rows: Vec<Row>,
    export: Option<Export>,
}

/// Everything the requests need.
pub(super) struct Bench<'a> {
    serve: &'a ServeProcess,
    base_url: String,
    http: reqwest::Client,
    pool: PgPool,
    numbers: app::numbers::Numbers,
    keys: Keys,
    admin: User,
    big_owner: User,
    quiet_owner: User,
    quiet_agent: User,
    big_session: Uuid,
    quiet_session: Uuid,
    deep_big: Option<(DateTime<Utc>, Uuid)>,
    deep_big_campaign: Option<(DateTime<Utc>, Uuid)>,
    deep_quiet: Option<(DateTime<Utc>, Uuid)>,
    mail_date: DateTime<Utc>,
    samples: usize,
    budget: Duration,
    csv: bool,
}

impl<'a> Bench<'a> {
    pub(super) async fn new(
        serve: &'a ServeProcess,
        config: &tokio_postgres::Config,
        client: &tokio_postgres::Client,
        keys: Keys,
        args: &ScaleArgs,
    ) -> anyhow::Result<Self> {
        let mut sql_config = config.clone();
        sql_config.options(format!("-c statement_timeout={}", SQL_TIMEOUT.as_millis()));
        let pool = calltrack::db::pool::pool(sql_config, 2)?;
        let mut settings = calltrack::twilio::TwilioSettings::new(
            "ACscale".to_owned(),
            SecretString::from("unused"),
        );
        // Listing numbers never calls Twilio; nothing answers there if something did.
        settings.api_base_url = "http://127.0.0.1:9".to_owned();
        let numbers = app::numbers::Numbers {
            pool: pool.clone(),
            twilio: calltrack::twilio::client::TwilioClient::new(&settings)?,
            public_base_url: calltrack::twilio::PublicBaseUrl::parse("https://calltrack.invalid")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            routing: None,
        };
        let secret = SecretString::from(serve.config().jwt_secret.clone());
        let user = |label: &'static str, id: Uuid| {
            let pool = pool.clone();
            let secret = secret.clone();
            async move {
                let principal = app::credentials::user(&pool, id).await?;
                let token = calltrack::auth::issue_token(&secret, id, chrono::Duration::hours(12))?;
                anyhow::Ok(User {
                    label,
                    principal,
                    token,
                })
            }
        };
        let depth = DEEP_PAGES * PAGE - 1;
        let big_session = client
            .query_one(
                "SELECT call_session_id FROM call_conditions_met WHERE campaign_id = $1
                 ORDER BY met_at DESC LIMIT 1",
                &[&keys.big_campaign],
            )
            .await?
            .get(0);
        let quiet_session = client
            .query_one(
                "SELECT s.id FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
                 WHERE c.client_id = $1 AND s.match_status = 'matched'
                 ORDER BY s.created_at DESC LIMIT 1",
                &[&keys.quiet_client],
            )
            .await?
            .get(0);
        let mail_date: chrono::NaiveDate = client
            .query_one(
                "SELECT mail_date FROM campaigns WHERE id = $1",
                &[&keys.big_campaign],
            )
            .await?
            .get(0);
        Ok(Self {
            serve,
            base_url: serve.base_url()?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(900))
                .build()?,
            admin: user("admin", keys.admin).await?,
            big_owner: user("big owner", keys.big_owner).await?,
            quiet_owner: user("quiet owner", keys.quiet_owner).await?,
            quiet_agent: user("quiet agent", keys.quiet_agent).await?,
            deep_big: keyset(client, keys.big_client, None, depth).await?,
            deep_big_campaign: keyset(client, keys.big_client, Some(keys.big_campaign), depth)
                .await?,
            deep_quiet: keyset(client, keys.quiet_client, None, depth).await?,
            pool,
            numbers,
            keys,
            big_session,
            quiet_session,
            mail_date: mail_date
                .and_hms_opt(0, 0, 0)
                .map_or_else(Utc::now, |t| t.and_utc()),
            samples: args.samples.max(1),
            budget: Duration::from_secs(args.budget_seconds.max(1)),
            csv: !args.no_csv,
        })
    }

    /// Every request of the table, then the export.
    pub(super) async fn run(&self) -> anyhow::Result<Measured> {
        let now = Utc::now();
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        let day = chrono::Duration::days(1);
        let hour_start = now - chrono::Duration::seconds(now.timestamp() % 3600);
        let month_from = midnight - day * 29;
        let asks: Vec<(String, &User, Ask)> = vec![
            (
                "GET /campaigns?limit=1 (console probe)".into(),
                &self.big_owner,
                Ask::Campaigns { limit: 1 },
            ),
            (
                "GET /campaigns".into(),
                &self.admin,
                Ask::Campaigns { limit: PAGE },
            ),
            (
                "GET /campaigns".into(),
                &self.big_owner,
                Ask::Campaigns { limit: PAGE },
            ),
            (
                "GET /campaigns".into(),
                &self.quiet_owner,
                Ask::Campaigns { limit: PAGE },
            ),
            (
                "GET /campaigns/{big}".into(),
                &self.big_owner,
                Ask::Campaign,
            ),
            (
                "GET …/{big}/call-stats whole range".into(),
                &self.big_owner,
                Ask::Stats {
                    from: None,
                    to: None,
                },
            ),
            (
                "GET …/{big}/call-stats last 7 days".into(),
                &self.big_owner,
                Ask::Stats {
                    from: Some(now - day * 7),
                    to: None,
                },
            ),
            (
                "GET …/{big}/call-stats 30 days (overview)".into(),
                &self.big_owner,
                Ask::Stats {
                    from: Some(month_from),
                    to: Some(midnight + day),
                },
            ),
            (
                "GET …/{big}/call-stats/series 30 days by day".into(),
                &self.big_owner,
                Ask::Series {
                    bucket: Bucket::Day,
                    from: month_from,
                    to: None,
                },
            ),
            (
                "GET …/{big}/call-stats/series 7 days by hour".into(),
                &self.big_owner,
                Ask::Series {
                    bucket: Bucket::Hour,
                    from: hour_start - day * 7 + chrono::Duration::hours(1),
                    to: None,
                },
            ),
            (
                "GET …/{big}/call-stats/series 60 days from mail (decay)".into(),
                &self.big_owner,
                Ask::Series {
                    bucket: Bucket::Day,
                    from: self.mail_date,
                    to: Some(self.mail_date + day * 60),
                },
            ),
            (
                "GET …/{big}/tracked-numbers".into(),
                &self.big_owner,
                Ask::Numbers,
            ),
            (
                "GET /call-sessions?limit=1 (agent probe)".into(),
                &self.quiet_agent,
                Ask::Sessions {
                    campaign: false,
                    unmatched: false,
                    before: None,
                    limit: 1,
                },
            ),
            (
                "GET /call-sessions first page".into(),
                &self.big_owner,
                Ask::Sessions {
                    campaign: false,
                    unmatched: false,
                    before: None,
                    limit: PAGE,
                },
            ),
            (
                "GET /call-sessions first page".into(),
                &self.quiet_agent,
                Ask::Sessions {
                    campaign: false,
                    unmatched: false,
                    before: None,
                    limit: PAGE,
                },
            ),
            (
                "GET /call-sessions?campaign_id={big} first page".into(),
                &self.big_owner,
                Ask::Sessions {
                    campaign: true,
                    unmatched: false,
                    before: None,
                    limit: PAGE,
                },
            ),
            (
                "GET /call-sessions?campaign_id={big}&match_status=unmatched&limit=20".into(),
                &self.big_owner,
                Ask::Sessions {
                    campaign: true,
                    unmatched: true,
                    before: None,
                    limit: 20,
                },
            ),
            (
                format!("GET /call-sessions page {}", DEEP_PAGES + 1),
                &self.big_owner,
                Ask::Sessions {
                    campaign: false,
                    unmatched: false,
                    before: self.deep_big,
                    limit: PAGE,
                },
            ),
            (
                format!("GET /call-sessions page {}", DEEP_PAGES + 1),
                &self.quiet_agent,
                Ask::Sessions {
                    campaign: false,
                    unmatched: false,
                    before: self.deep_quiet,
                    limit: PAGE,
                },
            ),
            (
                format!(
                    "GET /call-sessions?campaign_id={{big}} page {}",
                    DEEP_PAGES + 1
                ),
                &self.big_owner,
                Ask::Sessions {
                    campaign: true,
                    unmatched: false,
                    before: self.deep_big_campaign,
                    limit: PAGE,
                },
            ),
            (
                "GET /call-sessions/{id}".into(),
                &self.big_owner,
                Ask::Session(self.big_session),
            ),
            (
                "GET /call-sessions/{id}".into(),
                &self.quiet_agent,
                Ask::Session(self.quiet_session),
            ),
        ];
        let mut rows = Vec::new();
        header();
        for (what, user, ask) in asks {
            let http = self.sample(|| self.over_http(user, &ask)).await;
            let sql = self.sample(|| self.in_process(user, &ask)).await;
            let row = Row {
                what,
                who: user.label,
                goal_ms: ask.goal_ms(),
                http,
                sql,
            };
            print_row(&row);
            rows.push(row);
        }
        let export = if self.csv {
            Some(self.export().await?)
        } else {
            None
        };
        Ok(Measured { rows, export })
    }

    /// Up to three warm-ups and `samples` timed runs of `once`, one at a time, within the
    /// budget (at least one timed run).
    async fn sample<F, Fut>(&self, once: F) -> Samples
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        for _ in 0..WARM_UPS {
            if started.elapsed() > self.budget / 4 {
                break;
            }
            let _ = once().await;
        }
        let started = Instant::now();
        let mut samples = Samples::default();
        for _ in 0..self.samples {
            let t = Instant::now();
            let outcome = once().await;
            samples.ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if let Err(what) = outcome {
                *samples.failures.entry(what).or_default() += 1;
            }
            if started.elapsed() > self.budget {
                break;
            }
        }
        samples
    }

    fn path(&self, ask: &Ask) -> String {
        let campaign = self.keys.big_campaign;
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let query = |pairs: Vec<(&str, String)>| {
            let mut out = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                out.append_pair(k, &v);
            }
            let q = out.finish();
            if q.is_empty() { q } else { format!("?{q}") }
        };
        match ask {
            Ask::Campaigns { limit } => {
                format!(
                    "/api/v1/campaigns{}",
                    query(vec![("limit", limit.to_string())])
                )
            }
            Ask::Campaign => format!("/api/v1/campaigns/{campaign}"),
            Ask::Stats { from, to } => {
                let mut pairs = Vec::new();
                if let Some(from) = from {
                    pairs.push(("from", at(*from)));
                }
                if let Some(to) = to {
                    pairs.push(("to", at(*to)));
                }
                format!("/api/v1/campaigns/{campaign}/call-stats{}", query(pairs))
            }
            Ask::Series { bucket, from, to } => {
                let mut pairs = vec![("bucket", bucket.as_str().to_owned()), ("from", at(*from))];
                if let Some(to) = to {
                    pairs.push(("to", at(*to)));
                }
                format!(
                    "/api/v1/campaigns/{campaign}/call-stats/series{}",
                    query(pairs)
                )
            }
            Ask::Numbers => format!("/api/v1/campaigns/{campaign}/tracked-numbers"),
            Ask::Sessions {
                campaign: by_campaign,
                unmatched,
                before,
                limit,
            } => {
                let mut pairs = Vec::new();
                if *by_campaign {
                    pairs.push(("campaign_id", campaign.to_string()));
                }
                if *unmatched {
                    pairs.push(("match_status", "unmatched".to_owned()));
                }
                pairs.push(("limit", limit.to_string()));
                if let Some((at, id)) = before {
                    pairs.push(("cursor", cursor(*at, *id)));
                }
                format!("/api/v1/call-sessions{}", query(pairs))
            }
            Ask::Session(id) => format!("/api/v1/call-sessions/{id}"),
        }
    }

    async fn over_http(&self, user: &User, ask: &Ask) -> Result<(), String> {
        let response = self
            .http
            .get(format!("{}{}", self.base_url, self.path(ask)))
            .bearer_auth(&user.token)
            .send()
            .await
            .map_err(|e| format!("HTTP error {}", short(&e.to_string())))?;
        let status = response.status();
        let body = response.bytes().await;
        match (status.is_success(), body) {
            (true, Ok(_)) => Ok(()),
            (false, _) => Err(status.as_u16().to_string()),
            (true, Err(_)) => Err("body cut off".to_owned()),
        }
    }

    async fn in_process(&self, user: &User, ask: &Ask) -> Result<(), String> {
        let principal = &user.principal;
        let campaign = self.keys.big_campaign;
        let failed = |e: &dyn std::fmt::Display| short(&e.to_string());
        match ask {
            Ask::Campaigns { limit } => app::stats::campaigns(&self.pool, principal, None, *limit)
                .await
                .map(drop)
                .map_err(|e| failed(&e)),
            Ask::Campaign => app::stats::campaign_summary(&self.pool, principal, campaign)
                .await
                .map(drop)
                .map_err(|e| failed(&e)),
            Ask::Stats { from, to } => {
                let range = TimeRange::parse(*from, *to).map_err(|e| failed(&e))?;
                app::stats::campaign(&self.pool, principal, campaign, range)
                    .await
                    .map(drop)
                    .map_err(|e| failed(&e))
            }
            Ask::Series { bucket, from, to } => {
                let range = TimeRange::parse(Some(*from), *to).map_err(|e| failed(&e))?;
                let window =
                    SeriesWindow::parse(range, *bucket, Utc::now()).map_err(|e| failed(&e))?;
                app::stats::series(&self.pool, principal, campaign, &window)
                    .await
                    .map(drop)
                    .map_err(|e| failed(&e))
            }
            Ask::Numbers => app::numbers::list(&self.numbers, Caller::Api(principal), campaign)
                .await
                .map(drop)
                .map_err(|e| failed(&e)),
            Ask::Sessions {
                campaign: by_campaign,
                unmatched,
                before,
                limit,
            } => {
                let filter = app::sessions::SessionFilter {
                    campaign_id: by_campaign.then_some(campaign),
                    match_status: unmatched.then_some(MatchStatus::Unmatched),
                    before: *before,
                    limit: *limit,
                    ..Default::default()
                };
                app::sessions::list(&self.pool, principal, &filter)
                    .await
                    .map(drop)
                    .map_err(|e| failed(&e))
            }
            Ask::Session(id) => app::sessions::detail(&self.pool, principal, *id)
                .await
                .map(drop)
                .map_err(|e| failed(&e)),
        }
    }

    /// The big campaign's CSV as its company owner downloads it, with the server's resident
    /// memory sampled meanwhile; then the same pages read in-process.
    async fn export(&self) -> anyhow::Result<Export> {
        let pid = self.serve.pid();
        let rss_before_kib = pid.and_then(rss_kib);
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let sampling = Arc::clone(&sampling);
            tokio::spawn(async move {
                let mut peak = None;
                while sampling.load(Ordering::Relaxed) {
                    peak = peak.max(pid.and_then(rss_kib));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                peak
            })
        };
        let t = Instant::now();
        let response = self
            .http
            .get(format!(
                "{}/api/v1/campaigns/{}/call-sessions.csv",
                self.base_url, self.keys.big_campaign
            ))
            .bearer_auth(&self.big_owner.token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the CSV export answered {}",
            response.status()
        );
        let mut lines: u64 = 0;
        let mut complete = true;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => lines += bytes.iter().filter(|b| **b == b'\n').count() as u64,
                Err(error) => {
                    eprintln!("the CSV export ended early: {error}");
                    complete = false;
                    break;
                }
            }
            if t.elapsed() > CSV_LIMIT {
                complete = false;
                break;
            }
        }
        drop(body);
        let http_seconds = t.elapsed().as_secs_f64();
        sampling.store(false, Ordering::Relaxed);
        let rss_peak_kib = sampler.await.ok().flatten();
        let rss_after_kib = pid.and_then(rss_kib);

        let t = Instant::now();
        let mut export = app::sessions::Export::start(
            &self.pool,
            &self.big_owner.principal,
            self.keys.big_campaign,
            app::sessions::SessionFilter::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut sql_rows: u64 = 0;
        while let Some(page) = export
            .next_page()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            sql_rows += page.len() as u64;
            if t.elapsed() > CSV_LIMIT {
                break;
            }
        }
        Ok(Export {
            http_rows: lines.saturating_sub(1),
            http_seconds,
            http_complete: complete,
            sql_rows,
            sql_seconds: t.elapsed().as_secs_f64(),
            rss_before_kib,
            rss_peak_kib,
            rss_after_kib,
        })
    }
}

/// The position after the `depth`-th newest session the client's users see (of one campaign
/// when given), read with the owner's rights; `None` when there are not that many.
async fn keyset(
    client: &tokio_postgres::Client,
    client_id: Uuid,
    campaign: Option<Uuid>,
    depth: i64,
) -> anyhow::Result<Option<(DateTime<Utc>, Uuid)>> {
    let row = client
        .query_opt(
            "SELECT s.created_at, s.id FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
             WHERE c.client_id = $1 AND ($2::uuid IS NULL OR s.campaign_id = $2)
             ORDER BY s.created_at DESC, s.id DESC OFFSET $3 LIMIT 1",
            &[&client_id, &campaign, &depth],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// A keyset position as the API's opaque cursor.
fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.to_rfc3339()))
}

fn short(text: &str) -> String {
    text.chars().take(48).collect()
}

/// Resident memory of process `pid` now, in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn header() {
    println!(
        "\n{:<70} {:<12} {:>9} {:>9} {:>9} {:>3} {:<10} {:>9} {:>9} {:>3} {:>5} {:<4}",
        "request",
        "caller",
        "HTTP p50",
        "p95",
        "max",
        "n",
        "status",
        "SQL p50",
        "p95",
        "n",
        "goal",
        ""
    );
}

fn print_row(row: &Row) {
    let verdict = match row.http.quantile(0.95) {
        Some(p95) if p95 < row.goal_ms && row.http.failures.is_empty() => "ok",
        _ => "MISS",
    };
    println!(
        "{:<70} {:<12} {:>9} {:>9} {:>9} {:>3} {:<10} {:>9} {:>9} {:>3} {:>5} {:<4}",
        row.what,
        row.who,
        ms(row.http.quantile(0.5)),
        ms(row.http.quantile(0.95)),
        ms(row.http.max()),
        row.http.ms.len(),
        row.http.status(),
        ms(row.sql.quantile(0.5)),
        ms(row.sql.quantile(0.95)),
        row.sql.ms.len(),
        format!("<{}", row.goal_ms),
        verdict,
    );
}

/// The whole table, once more at the end, and the export.
pub(super) fn print(measured: &Measured, args: &ScaleArgs) {
    println!(
        "\nmilliseconds; HTTP: from outside, one request at a time, after up to {WARM_UPS} warm-ups, \
         up to {} samples within {} s; SQL: the same use case in-process, same principal; \
         goal: issue 27's p95 (lists and details < 50 ms, other manager requests < 100 ms)",
        args.samples, args.budget_seconds
    );
    header();
    for row in &measured.rows {
        print_row(row);
    }
    if let Some(e) = &measured.export {
        let mib = |k: Option<u64>| {
            k.map_or_else(
                || "-".to_owned(),
                |k| format!("{:.0} MiB", k as f64 / 1024.0),
            )
        };
        let growth = e
            .rss_before_kib
            .zip(e.rss_peak_kib)
            .map(|(b, p)| p.saturating_sub(b) as f64 / 1024.0);
        let rate = e.http_rows as f64 / e.http_seconds.max(1e-9);
        println!(
            "\nCSV export of the big campaign (big owner): {} rows in {:.1} s over HTTP{} = {:.0} rows/s \
             (goal ≥ 100,000: {}); serve RSS {} before, peak {} (+{:.0} MiB), {} after; \
             SQL alone (Export pages in-process): {} rows in {:.1} s = {:.0} rows/s",
            e.http_rows,
            e.http_seconds,
            if e.http_complete { "" } else { " (cut off)" },
            rate,
            if rate >= 100_000.0 { "ok" } else { "MISS" },
            mib(e.rss_before_kib),
            mib(e.rss_peak_kib),
            growth.unwrap_or(f64::NAN),
            mib(e.rss_after_kib),
            e.sql_rows,
            e.sql_seconds,
            e.sql_rows as f64 / e.sql_seconds.max(1e-9),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_and_failures_are_counted_by_kind() {
        let mut samples = Samples {
            ms: (1..=20).rev().map(f64::from).collect(),
            ..Samples::default()
        };
        assert_eq!(samples.quantile(0.5), Some(10.0));
        assert_eq!(samples.quantile(0.95), Some(19.0));
        assert_eq!(samples.max(), Some(20.0));
        assert_eq!(samples.status(), "ok");
        samples.failures.insert("503".into(), 2);
        assert_eq!(samples.status(), "503×2");
        assert_eq!(Samples::default().quantile(0.5), None);
    }
}
