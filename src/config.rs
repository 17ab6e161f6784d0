//! Settings from the environment (and a `.env` file), read once at start-up. Each command
//! has its own settings type and requires only the variables it uses.
//!
//! This module reads the environment and builds other modules' settings from it (Twilio's
//! account and public URL, the log format). Those modules never import `config`: their types
//! and defaults (Twilio's API URL and request timeout) live with them, and `serve`'s own
//! defaults ([`ROUTING_POLL_INTERVAL`], [`DEFAULT_WEBHOOK_WRITERS`]) live here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::{SecretBox, SecretString};

use crate::telemetry::LogFormat;
use crate::twilio::{PublicBaseUrl, SmsSender, TwilioSettings};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Every required variable of the command that is unset, in the order the command names
    /// them: one message, so a first start is not a round of fixing one variable at a time.
    #[error("{} required but not set", missing_list(.0))]
    Missing(Vec<&'static str>),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// `A is`, `A and B are`, `A, B and C are`.
fn missing_list(names: &[&'static str]) -> String {
    match names {
        [] => "nothing is".to_owned(),
        [one] => format!("{one} is"),
        [first @ .., last] => format!("{} and {last} are", first.join(", ")),
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// Where the database is: a URL, or the embedded cluster under a data directory.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    Url(SecretString),
    /// A database already located by the caller: the demo's database on the cluster it
    /// started, a test's clone of the migrated template.
    Located(Box<tokio_postgres::Config>),
    Embedded {
        data_dir: PathBuf,
    },
}

impl DatabaseSource {
    /// `DATABASE_URL`, else the embedded cluster under `CALLTRACK_DATA_DIR`. What `migrate`
    /// needs, and nothing more.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Self {
        let env = non_empty(raw_env);
        match env("DATABASE_URL") {
            Some(url) => Self::Url(url.into()),
            None => Self::Embedded {
                data_dir: data_dir(&env),
            },
        }
    }
}

/// What a call hears and whether it is recorded.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    pub record_calls: bool,
    /// Spoken before forwarding when recording; `None` when empty or recording is off.
    pub recording_notice: Option<String>,
}

/// The reward SMS worker.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often an idle worker looks for due SMS (`OUTBOX_POLL_MS`, default 500).
    pub poll_interval: Duration,
}

/// The webhooks-out delivery worker.
#[derive(Debug, Clone)]
pub struct WebhookDeliverySettings {
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS` (default false): allow `http://` endpoints and
    /// internal addresses (loopback, private, link-local); for development and tests only.
    pub allow_private_networks: bool,
    /// `WEBHOOK_DELIVERY_CONCURRENCY` (default 16, 1 to 64): attempts in flight at once per
    /// process.
    pub concurrency: usize,
    /// How often an idle worker looks for due messages: `OUTBOX_POLL_MS`, as the SMS worker.
    pub poll_interval: Duration,
    /// Whether this process runs the delivery worker: always from the environment; the test
    /// suite's servers leave messages alone unless a test delivers them.
    pub run_worker: bool,
}

/// How the HTTP server treats its connections. Not read from the environment: the defaults
/// are what a service behind Twilio and a load balancer wants; tests shorten them.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Worker threads serving HTTP.
    pub workers: usize,
    /// A connection must deliver a request's head within this time.
    pub header_timeout: Duration,
    /// ... and its body within this time after the head.
    pub body_timeout: Duration,
    /// An idle keep-alive connection is closed after this time.
    pub keep_alive: Duration,
    /// Open connections, over all workers; past it the server stops accepting for a while.
    pub max_connections: usize,
    /// How long a graceful stop waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpLimits {
    pub fn max_connections_per_worker(&self) -> usize {
        (self.max_connections / self.workers.max(1)).max(1)
    }

    /// Keeps the connection cap within `descriptors` open files.
    pub fn fit_connections_to(&mut self, descriptors: u64) {
        let fit = usize::try_from(descriptors).unwrap_or(usize::MAX).max(16);
        self.max_connections = self.max_connections.min(fit);
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSource,
    pub bind_addr: SocketAddr,
    pub public_base_url: PublicBaseUrl,
    pub twilio: TwilioSettings,
    pub jwt_secret: SecretString,
    pub gift_card_key: Arc<SecretBox<[u8; 32]>>,
    pub voice: VoiceSettings,
    pub outbox: OutboxSettings,
    pub webhooks: WebhookDeliverySettings,
    /// `VOICE_DEADLINE_MS`: how long a webhook waits for the database before it fails open;
    /// readiness, metrics and the workers are bounded by it too.
    pub db_deadline: Duration,
    /// How long one statement of a webhook or a worker may run: `VOICE_DEADLINE_MS` too, so
    /// PostgreSQL stops the work a webhook gave up on (a test lengthens it to let a write
    /// outlive its webhook).
    pub statement_deadline: Duration,
    /// `API_DEADLINE_MS`: how long a JSON API (and so a console) request waits for a pooled
    /// connection, and how long each of its statements may run, before it is answered `503`.
    pub api_deadline: Duration,
    /// Connections of the pool the webhooks and workers share; the group-commit writers have
    /// their own.
    pub pool_size: usize,
    /// Connections of the JSON API's own pool: a slow console request never holds one a
    /// webhook needs.
    pub api_pool_size: usize,
    /// How long the start waits for a first connection before it goes on without the
    /// database (calls are then taken from the routing snapshot and the spool).
    pub start_connect_timeout: Duration,
    pub log_format: LogFormat,
    /// `METRICS_BIND_ADDR`: serve `/metrics` only on this private listener.
    pub metrics_bind_addr: Option<SocketAddr>,
    pub http: HttpLimits,
    /// `CALLTRACK_SPOOL_DIR`: the journal of webhooks the database could not take, and the
    /// routing snapshot. Per process: two instances must not share one.
    pub spool_dir: PathBuf,
    /// How often the routing version is polled, [`ROUTING_POLL_INTERVAL`] (not configurable
    /// from the environment; tests change it).
    pub routing_poll_interval: Duration,
    /// `CONDITION_CHECK_INTERVAL_MS`: how often due `time_delay` conditions are looked for.
    pub condition_check_interval: Duration,
    /// `RECONCILE_ON_START`: read Twilio's call log for the time since the last start-up
    /// run, in the background, once the schema is ready.
    pub reconcile_on_start: bool,
    /// `WEBHOOK_WRITERS`: group-commit writers per write kind (voice; status, dial and
    /// screening callbacks; recordings), each with one connection of the writers' pool.
    pub webhook_writers: usize,
}

/// The variables `serve` cannot start without (unless a local trial supplies them, see
/// [`crate::trial`]).
pub const SERVE_REQUIRES: [&str; 4] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "JWT_SECRET",
    "GIFT_CARD_KEY",
];

/// Connections kept to PostgreSQL by one `serve` process's pool for webhooks and workers.
pub const DEFAULT_POOL_SIZE: usize = 32;

/// Connections kept to PostgreSQL by one `serve` process's pool for the JSON API.
pub const DEFAULT_API_POOL_SIZE: usize = 16;

/// How long `serve` waits for a first connection at start.
pub const START_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default of `WEBHOOK_WRITERS`.
pub const DEFAULT_WEBHOOK_WRITERS: usize = 2;

/// Default of `WEBHOOK_DELIVERY_CONCURRENCY`.
pub const DEFAULT_WEBHOOK_DELIVERY_CONCURRENCY: usize = 16;

/// How often `serve` reads the routing version: one primary-key read per process per
/// interval.
pub const ROUTING_POLL_INTERVAL: Duration = Duration::from_secs(1);

impl Settings {
    /// Reads settings through `raw_env`; an empty value counts as unset except for
    /// `RECORDING_NOTICE`, where empty means "say nothing". Requires `TWILIO_ACCOUNT_SID`,
    /// `TWILIO_AUTH_TOKEN`, `JWT_SECRET` and `GIFT_CARD_KEY`.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        let [account_sid, auth_token, jwt_secret, gift_card_key] = required(&env, SERVE_REQUIRES)?;
        let bind_addr = bind_addr(&env)?;
        let public_base_url = public_base_url(&env, bind_addr)?;
        let record_calls = flag(&env, "RECORD_CALLS", true)?;
        let recording_notice =
            raw_env("RECORDING_NOTICE").unwrap_or_else(|| "This call may be recorded.".to_owned());
        let recording_notice =
            Some(recording_notice).filter(|n| record_calls && !n.trim().is_empty());
        let deadline_ms = milliseconds(&env, "VOICE_DEADLINE_MS", 1500, 50..=10_000)?;
        // Up to a minute: past it a person has given up, and load balancers cut the request.
        let api_deadline_ms = milliseconds(&env, "API_DEADLINE_MS", 5000, 50..=60_000)?;
        let webhook_writers = match env("WEBHOOK_WRITERS") {
            None => DEFAULT_WEBHOOK_WRITERS,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=16).contains(n))
                .ok_or_else(|| invalid("WEBHOOK_WRITERS", "expected a count, 1 to 16"))?,
        };
        let poll_ms = milliseconds(&env, "OUTBOX_POLL_MS", 500, 1..=60_000)?;
        let webhook_concurrency = match env("WEBHOOK_DELIVERY_CONCURRENCY") {
            None => DEFAULT_WEBHOOK_DELIVERY_CONCURRENCY,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    invalid("WEBHOOK_DELIVERY_CONCURRENCY", "expected a count, 1 to 64")
                })?,
        };
        let condition_check_ms =
            milliseconds(&env, "CONDITION_CHECK_INTERVAL_MS", 30_000, 10..=86_400_000)?;
        Ok(Self {
            database: DatabaseSource::from_lookup(&env),
            bind_addr,
            public_base_url,
            twilio: twilio_settings(&env, account_sid, auth_token),
            jwt_secret: jwt_secret.into(),
            gift_card_key: Arc::new(parse_gift_card_key(&gift_card_key)?),
            voice: VoiceSettings {
                record_calls,
                recording_notice,
            },
            db_deadline: Duration::from_millis(deadline_ms),
            statement_deadline: Duration::from_millis(deadline_ms),
            api_deadline: Duration::from_millis(api_deadline_ms),
            pool_size: DEFAULT_POOL_SIZE,
            api_pool_size: DEFAULT_API_POOL_SIZE,
            start_connect_timeout: START_CONNECT_TIMEOUT,
            outbox: OutboxSettings {
                poll_interval: Duration::from_millis(poll_ms),
            },
            webhooks: WebhookDeliverySettings {
                allow_private_networks: flag(&env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", false)?,
                concurrency: webhook_concurrency,
                poll_interval: Duration::from_millis(poll_ms),
                run_worker: true,
            },
            log_format: LogFormat::from_lookup(&env),
            metrics_bind_addr: env("METRICS_BIND_ADDR")
                .map(|raw| {
                    raw.parse().map_err(|_| {
                        invalid(
                            "METRICS_BIND_ADDR",
                            "expected host:port, e.g. 127.0.0.1:9090",
                        )
                    })
                })
                .transpose()?,
            http: HttpLimits::default(),
            spool_dir: env("CALLTRACK_SPOOL_DIR")
                .map_or_else(|| data_dir(&env).join("spool"), PathBuf::from),
            routing_poll_interval: ROUTING_POLL_INTERVAL,
            condition_check_interval: Duration::from_millis(condition_check_ms),
            reconcile_on_start: flag(&env, "RECONCILE_ON_START", true)?,
            webhook_writers,
        })
    }
}

/// What `numbers search|buy|list|release` needs: the database, the account, and the URL the
/// bought numbers are pointed at. No JWT secret, no gift-card key.
#[derive(Debug, Clone)]
pub struct NumbersSettings {
    pub database: DatabaseSource,
    pub public_base_url: PublicBaseUrl,
    pub twilio: TwilioSettings,
}

impl NumbersSettings {
    /// Requires `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        let twilio = twilio_account(&env)?;
        Ok(Self {
            database: DatabaseSource::from_lookup(&env),
            public_base_url: public_base_url(&env, bind_addr(&env)?)?,
            twilio,
        })
    }
}

/// What `reconcile` needs: the database and the account whose call log is read.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub database: DatabaseSource,
    pub twilio: TwilioSettings,
}

impl ReconcileSettings {
    /// Requires `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        Ok(Self {
            database: DatabaseSource::from_lookup(&env),
            twilio: twilio_account(&env)?,
        })
    }
}

/// What `gift-cards import` needs: the database and the key the codes are encrypted under.
#[derive(Debug, Clone)]
pub struct GiftCardImportSettings {
    pub database: DatabaseSource,
    pub gift_card_key: Arc<SecretBox<[u8; 32]>>,
}

impl GiftCardImportSettings {
    /// Requires `GIFT_CARD_KEY`.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        let [key] = required(&env, ["GIFT_CARD_KEY"])?;
        Ok(Self {
            database: DatabaseSource::from_lookup(&env),
            gift_card_key: Arc::new(parse_gift_card_key(&key)?),
        })
    }
}

/// What `simulate call` needs: the token Twilio signs with and the URL it signs against.
#[derive(Debug, Clone)]
pub struct SimulateSettings {
    /// The server's `PUBLIC_BASE_URL` (default `http://` + `BIND_ADDR`): what is signed, and
    /// where webhooks go unless `--url` says otherwise.
    pub public_base_url: PublicBaseUrl,
    pub auth_token: SecretString,
}

impl SimulateSettings {
    /// Requires `TWILIO_AUTH_TOKEN`.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        let [auth_token] = required(&env, ["TWILIO_AUTH_TOKEN"])?;
        Ok(Self {
            public_base_url: public_base_url(&env, bind_addr(&env)?)?,
            auth_token: auth_token.into(),
        })
    }
}

/// What `demo` takes from the environment; it makes up every secret itself.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub database: DatabaseSource,
    /// Where the demo serves if that address is free (else any free port).
    pub bind_addr: SocketAddr,
}

impl DemoSettings {
    /// Requires nothing.
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = non_empty(raw_env);
        Ok(Self {
            database: DatabaseSource::from_lookup(&env),
            bind_addr: bind_addr(&env)?,
        })
    }
}

/// `CALLTRACK_DATA_DIR`, default `./.calltrack`: the embedded cluster, the spool and the
/// local trial's secrets live there.
pub fn data_dir(env: &impl Fn(&str) -> Option<String>) -> PathBuf {
    env("CALLTRACK_DATA_DIR")
        .filter(|dir| !dir.trim().is_empty())
        .map_or_else(|| PathBuf::from(".calltrack"), PathBuf::from)
}

/// `raw_env` with empty and blank values counted as unset.
pub(crate) fn non_empty(
    raw_env: &impl Fn(&str) -> Option<String>,
) -> impl Fn(&str) -> Option<String> {
    move |name: &str| raw_env(name).filter(|v| !v.trim().is_empty())
}

/// The values of `names`, or [`ConfigError::Missing`] naming every one that is unset.
fn required<const N: usize>(
    env: &impl Fn(&str) -> Option<String>,
    names: [&'static str; N],
) -> Result<[String; N], ConfigError> {
    let values = names.map(env);
    let missing: Vec<&'static str> = names
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        Ok(values.map(Option::unwrap_or_default))
    } else {
        Err(ConfigError::Missing(missing))
    }
}

/// A variable in milliseconds within `range`, `default` when unset.
fn milliseconds(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = env(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| range.contains(ms))
        .ok_or_else(|| {
            invalid(
                name,
                format!(
                    "expected milliseconds, {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// A `true`/`false` variable (also `1`/`0`, `yes`/`no`, any case), `default` when unset.
fn flag(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match env(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(invalid(name, "expected true or false")),
    }
}

/// `BIND_ADDR`, default `127.0.0.1:8080`.
fn bind_addr(env: &impl Fn(&str) -> Option<String>) -> Result<SocketAddr, ConfigError> {
    env("BIND_ADDR")
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .map_err(|_| invalid("BIND_ADDR", "expected host:port, e.g. 127.0.0.1:8080"))
}

/// `PUBLIC_BASE_URL`, default `http://` + the bind address.
fn public_base_url(
    env: &impl Fn(&str) -> Option<String>,
    bind_addr: SocketAddr,
) -> Result<PublicBaseUrl, ConfigError> {
    let raw = env("PUBLIC_BASE_URL").unwrap_or_else(|| format!("http://{bind_addr}"));
    PublicBaseUrl::parse(&raw).map_err(|reason| invalid("PUBLIC_BASE_URL", reason.to_string()))
}

/// The Twilio account: requires `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`;
/// `TWILIO_API_BASE_URL` and the SMS sender are optional.
fn twilio_account(env: &impl Fn(&str) -> Option<String>) -> Result<TwilioSettings, ConfigError> {
    let [account_sid, auth_token] = required(env, ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])?;
    Ok(twilio_settings(env, account_sid, auth_token))
}

/// The rest of the Twilio settings around credentials the caller has already required.
fn twilio_settings(
    env: &impl Fn(&str) -> Option<String>,
    account_sid: String,
    auth_token: String,
) -> TwilioSettings {
    let mut twilio = TwilioSettings::new(account_sid, auth_token.into());
    if let Some(url) = env("TWILIO_API_BASE_URL") {
        twilio.api_base_url = url.trim_end_matches('/').to_owned();
    }
    twilio.sms_sender = match (env("TWILIO_SMS_FROM"), env("TWILIO_MESSAGING_SERVICE_SID")) {
        (_, Some(sid)) => Some(SmsSender::MessagingService(sid)),
        (Some(from), None) => Some(SmsSender::From(from)),
        (None, None) => None,
    };
    twilio.secondary_auth_token = env("TWILIO_AUTH_TOKEN_SECONDARY").map(Into::into);
    twilio
}

/// Decodes `GIFT_CARD_KEY`: base64 of exactly 32 bytes.
pub fn parse_gift_card_key(raw: &str) -> Result<SecretBox<[u8; 32]>, ConfigError> {
    let bytes = STANDARD
        .decode(raw.trim())
        .map_err(|_| invalid("GIFT_CARD_KEY", "is not base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| invalid("GIFT_CARD_KEY", "must decode to exactly 32 bytes"))?;
    Ok(SecretBox::new(Box::new(key)))
}

/// Loads `.env` from the working directory if there is one; variables already set win.
/// `main` calls it once, before any settings are read.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

/// The process environment as the settings' `from_lookup` functions take it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TWILIO_ACCOUNT_SID", "ACxxxxxxxx"),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("JWT_SECRET", "secret"),
            ("GIFT_CARD_KEY", KEY),
        ]
    }

    #[test]
    fn defaults_fill_everything_optional() {
        let settings = Settings::from_lookup(&lookup(&complete())).unwrap();
        assert_eq!(settings.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.public_base_url.as_str(), "http://127.0.0.1:8080");
        assert!(settings.voice.record_calls);
        assert_eq!(
            settings.voice.recording_notice.as_deref(),
            Some("This call may be recorded.")
        );
        assert!(matches!(settings.database, DatabaseSource::Embedded { .. }));
        assert_eq!(settings.outbox.poll_interval.as_millis(), 500);
        assert_eq!(settings.db_deadline.as_millis(), 1500);
        assert_eq!(settings.api_deadline.as_millis(), 5000);
    }

    #[test]
    fn webhook_delivery_is_public_only_and_sixteen_wide_by_default() {
        let settings = Settings::from_lookup(&lookup(&complete())).unwrap();
        assert!(!settings.webhooks.allow_private_networks);
        assert_eq!(settings.webhooks.concurrency, 16);
        let mut vars = complete();
        vars.extend([
            ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
            ("WEBHOOK_DELIVERY_CONCURRENCY", "64"),
        ]);
        let settings = Settings::from_lookup(&lookup(&vars)).unwrap();
        assert!(settings.webhooks.allow_private_networks);
        assert_eq!(settings.webhooks.concurrency, 64);
        for (name, bad) in [
            ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "maybe"),
            ("WEBHOOK_DELIVERY_CONCURRENCY", "0"),
            ("WEBHOOK_DELIVERY_CONCURRENCY", "65"),
        ] {
            let mut vars = complete();
            vars.push((name, bad));
            let error = Settings::from_lookup(&lookup(&vars)).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn the_api_deadline_is_milliseconds_apart_from_the_webhooks() {
        let mut vars = complete();
        vars.extend([("API_DEADLINE_MS", "30000"), ("VOICE_DEADLINE_MS", "800")]);
        let settings = Settings::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(settings.api_deadline.as_millis(), 30_000);
        assert_eq!(settings.db_deadline.as_millis(), 800);
        assert_eq!(settings.statement_deadline.as_millis(), 800);
        for bad in ["49", "60001", "5s", "-1"] {
            let mut vars = complete();
            vars.push(("API_DEADLINE_MS", bad));
            let error = Settings::from_lookup(&lookup(&vars)).unwrap_err();
            assert_eq!(
                error.to_string(),
                "API_DEADLINE_MS is invalid: expected milliseconds, 50 to 60000",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_outbox_poll_interval_is_milliseconds() {
        let mut vars = complete();
        vars.push(("OUTBOX_POLL_MS", "50"));
        let settings = Settings::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(settings.outbox.poll_interval.as_millis(), 50);
        let mut vars = complete();
        vars.push(("OUTBOX_POLL_MS", "0"));
        assert!(Settings::from_lookup(&lookup(&vars)).is_err());
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for name in SERVE_REQUIRES {
            let vars: Vec<_> = complete().into_iter().filter(|(k, _)| *k != name).collect();
            let error = Settings::from_lookup(&lookup(&vars)).unwrap_err();
            assert_eq!(error, ConfigError::Missing(vec![name]));
            assert_eq!(error.to_string(), format!("{name} is required but not set"));
        }
    }

    #[test]
    fn every_missing_required_variable_is_named_in_one_message() {
        let vars = [("JWT_SECRET", "secret"), ("BIND_ADDR", "127.0.0.1:9000")];
        let error = Settings::from_lookup(&lookup(&vars)).unwrap_err();
        assert_eq!(
            error,
            ConfigError::Missing(vec![
                "TWILIO_ACCOUNT_SID",
                "TWILIO_AUTH_TOKEN",
                "GIFT_CARD_KEY"
            ])
        );
        assert_eq!(
            error.to_string(),
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and GIFT_CARD_KEY are required but not set"
        );
    }

    #[test]
    fn missing_variables_are_reported_before_invalid_ones() {
        let error = Settings::from_lookup(&lookup(&[("BIND_ADDR", "nope")])).unwrap_err();
        assert_eq!(error, ConfigError::Missing(SERVE_REQUIRES.to_vec()));
    }

    /// Asserts that `read` succeeds with `vars`, names each of `names` when it is missing,
    /// and names all of them at once when all are missing.
    fn requires_exactly<T: std::fmt::Debug>(
        read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, ConfigError>,
        vars: &[(&'static str, &'static str)],
        names: &[&'static str],
    ) {
        let all = lookup(vars);
        assert!(read(&all).is_ok(), "{vars:?} should be enough");
        for name in names {
            let rest: Vec<_> = vars.iter().copied().filter(|(k, _)| k != name).collect();
            assert_eq!(
                read(&lookup(&rest)).unwrap_err(),
                ConfigError::Missing(vec![name]),
                "{name}"
            );
        }
        let none: Vec<_> = vars
            .iter()
            .copied()
            .filter(|(k, _)| !names.contains(k))
            .collect();
        assert_eq!(
            read(&lookup(&none)).unwrap_err(),
            ConfigError::Missing(names.to_vec())
        );
    }

    #[test]
    fn numbers_need_only_the_twilio_account() {
        requires_exactly(
            |env| NumbersSettings::from_lookup(&env),
            &[
                ("TWILIO_ACCOUNT_SID", "ACxxxxxxxx"),
                ("TWILIO_AUTH_TOKEN", "token"),
            ],
            &["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
        );
        let settings = NumbersSettings::from_lookup(&lookup(&[
            ("TWILIO_ACCOUNT_SID", "ACxxxxxxxx"),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("BIND_ADDR", "127.0.0.1:9000"),
        ]))
        .unwrap();
        assert_eq!(settings.public_base_url.as_str(), "http://127.0.0.1:9000");
    }

    #[test]
    fn reconciling_needs_only_the_twilio_account() {
        requires_exactly(
            |env| ReconcileSettings::from_lookup(&env),
            &[
                ("TWILIO_ACCOUNT_SID", "ACxxxxxxxx"),
                ("TWILIO_AUTH_TOKEN", "token"),
            ],
            &["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
        );
    }

    #[test]
    fn serve_reconciles_on_start_unless_told_not_to() {
        let settings = Settings::from_lookup(&lookup(&complete())).unwrap();
        assert!(settings.reconcile_on_start);
        let mut vars = complete();
        vars.push(("RECONCILE_ON_START", "false"));
        assert!(
            !Settings::from_lookup(&lookup(&vars))
                .unwrap()
                .reconcile_on_start
        );
        let mut vars = complete();
        vars.push(("RECONCILE_ON_START", "maybe"));
        assert!(matches!(
            Settings::from_lookup(&lookup(&vars)).unwrap_err(),
            ConfigError::Invalid {
                name: "RECONCILE_ON_START",
                ..
            }
        ));
    }

    #[test]
    fn a_gift_card_import_needs_only_the_key() {
        requires_exactly(
            |env| GiftCardImportSettings::from_lookup(&env),
            &[("GIFT_CARD_KEY", KEY)],
            &["GIFT_CARD_KEY"],
        );
        let settings = GiftCardImportSettings::from_lookup(&lookup(&[
            ("GIFT_CARD_KEY", KEY),
            ("DATABASE_URL", "postgres://localhost/x"),
        ]))
        .unwrap();
        assert!(matches!(settings.database, DatabaseSource::Url(_)));
        let invalid = GiftCardImportSettings::from_lookup(&lookup(&[("GIFT_CARD_KEY", "AAAA")]));
        assert!(matches!(
            invalid.unwrap_err(),
            ConfigError::Invalid {
                name: "GIFT_CARD_KEY",
                ..
            }
        ));
    }

    #[test]
    fn the_simulator_needs_only_the_auth_token() {
        requires_exactly(
            |env| SimulateSettings::from_lookup(&env),
            &[("TWILIO_AUTH_TOKEN", "token")],
            &["TWILIO_AUTH_TOKEN"],
        );
        let settings = SimulateSettings::from_lookup(&lookup(&[
            ("TWILIO_AUTH_TOKEN", "token"),
            ("PUBLIC_BASE_URL", "https://example.com/hooks/"),
        ]))
        .unwrap();
        assert_eq!(
            settings.public_base_url.as_str(),
            "https://example.com/hooks"
        );
    }

    #[test]
    fn the_demo_and_the_bench_need_nothing() {
        let settings = DemoSettings::from_lookup(&lookup(&[])).unwrap();
        assert_eq!(settings.bind_addr.to_string(), "127.0.0.1:8080");
        assert!(matches!(settings.database, DatabaseSource::Embedded { .. }));
        assert!(DemoSettings::from_lookup(&lookup(&[("BIND_ADDR", "nope")])).is_err());
    }

    #[test]
    fn an_empty_database_url_means_the_embedded_cluster() {
        let source = DatabaseSource::from_lookup(&lookup(&[("DATABASE_URL", " ")]));
        assert!(matches!(source, DatabaseSource::Embedded { .. }));
    }

    #[test]
    fn an_invalid_public_base_url_names_the_variable_and_the_reason() {
        let mut vars = complete();
        vars.push(("PUBLIC_BASE_URL", "https://example.com/#retries"));
        let error = Settings::from_lookup(&lookup(&vars)).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { name: "PUBLIC_BASE_URL", reason } if reason.contains("key=value")),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("PUBLIC_BASE_URL is invalid"),
            "{error}"
        );
    }

    #[test]
    fn twilio_settings_take_the_optional_variables() {
        let mut vars = complete();
        vars.extend([
            ("TWILIO_API_BASE_URL", "http://127.0.0.1:9/"),
            ("TWILIO_SMS_FROM", "+14155550100"),
            ("TWILIO_AUTH_TOKEN_SECONDARY", "next"),
        ]);
        let twilio = Settings::from_lookup(&lookup(&vars)).unwrap().twilio;
        assert_eq!(twilio.api_base_url, "http://127.0.0.1:9");
        assert_eq!(
            twilio.sms_sender,
            Some(SmsSender::From("+14155550100".to_owned()))
        );
        assert!(twilio.secondary_auth_token.is_some());
        vars.push(("TWILIO_MESSAGING_SERVICE_SID", "MGxxxxxxxx"));
        let twilio = Settings::from_lookup(&lookup(&vars)).unwrap().twilio;
        assert_eq!(
            twilio.sms_sender,
            Some(SmsSender::MessagingService("MGxxxxxxxx".to_owned()))
        );
        let defaults = Settings::from_lookup(&lookup(&complete())).unwrap().twilio;
        assert_eq!(
            defaults.api_base_url,
            crate::twilio::settings::DEFAULT_API_BASE_URL
        );
        assert_eq!(defaults.sms_sender, None);
        assert!(defaults.secondary_auth_token.is_none());
    }

    #[test]
    fn a_short_gift_card_key_is_refused() {
        assert!(parse_gift_card_key("AAAA").is_err());
        assert!(parse_gift_card_key("not base64!").is_err());
        assert!(parse_gift_card_key(KEY).is_ok());
    }

    #[test]
    fn an_empty_recording_notice_says_nothing() {
        let mut vars = complete();
        vars.push(("RECORDING_NOTICE", ""));
        let settings = Settings::from_lookup(&lookup(&vars)).unwrap();
        assert!(settings.voice.record_calls);
        assert_eq!(settings.voice.recording_notice, None);
    }

    #[test]
    fn recording_off_silences_the_notice() {
        let mut vars = complete();
        vars.push(("RECORD_CALLS", "false"));
        let settings = Settings::from_lookup(&lookup(&vars)).unwrap();
        assert!(!settings.voice.record_calls);
        assert_eq!(settings.voice.recording_notice, None);
    }
}
