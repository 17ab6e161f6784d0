//! Settings from the environment (and a `.env` file), validated once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretBox, SecretString};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
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
    Embedded { data_dir: PathBuf },
}

impl DatabaseSource {
    pub fn from_lookup(env: &impl Fn(&str) -> Option<String>) -> Self {
        match env("DATABASE_URL") {
            Some(url) => Self::Url(url.into()),
            None => Self::Embedded {
                data_dir: env("CALLTRACK_DATA_DIR")
                    .unwrap_or_else(|| ".calltrack".into())
                    .into(),
            },
        }
    }
}

/// The base URL Twilio uses to reach this service, without a trailing slash. A path prefix is
/// allowed; it is the part a reverse proxy strips before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl(String);

impl PublicBaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let trimmed = raw.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| invalid("PUBLIC_BASE_URL", "must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("PUBLIC_BASE_URL", "has no host"));
        }
        if rest.contains(['?', '#', ' ']) {
            return Err(invalid(
                "PUBLIC_BASE_URL",
                "must not contain a query, fragment or space",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The absolute URL of `path_and_query` (which starts with `/`) as Twilio sees it.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{}", self.0, path_and_query)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who reward SMS come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSender {
    From(String),
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub api_base_url: String,
    pub sms_sender: Option<SmsSender>,
    /// `TWILIO_AUTH_TOKEN_SECONDARY`: during a token rotation webhooks signed with either
    /// token are accepted.
    pub secondary_auth_token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    pub fn from_lookup(env: &impl Fn(&str) -> Option<String>) -> Self {
        match env("LOG_FORMAT").as_deref() {
            Some("json") => Self::Json,
            Some("pretty") => Self::Pretty,
            _ if std::io::IsTerminal::is_terminal(&std::io::stdout()) => Self::Pretty,
            _ => Self::Json,
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
    pub poll_interval: std::time::Duration,
}

/// How the HTTP server treats its connections. Not read from the environment: the defaults
/// are what a service behind Twilio and a load balancer wants; tests shorten them.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Worker threads serving HTTP.
    pub workers: usize,
    /// A connection must deliver a request's head within this time.
    pub header_timeout: std::time::Duration,
    /// ... and its body within this time after the head.
    pub body_timeout: std::time::Duration,
    /// An idle keep-alive connection is closed after this time.
    pub keep_alive: std::time::Duration,
    /// Open connections, over all workers; past it the server stops accepting for a while.
    pub max_connections: usize,
    /// How long a graceful stop waits for in-flight requests.
    pub shutdown_timeout: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            header_timeout: std::time::Duration::from_secs(5),
            body_timeout: std::time::Duration::from_secs(10),
            keep_alive: std::time::Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_timeout: std::time::Duration::from_secs(30),
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
    pub gift_card_key: std::sync::Arc<SecretBox<[u8; 32]>>,
    pub voice: VoiceSettings,
    pub outbox: OutboxSettings,
    pub log_format: LogFormat,
    /// `METRICS_BIND_ADDR`: serve `/metrics` only on this private listener.
    pub metrics_bind_addr: Option<SocketAddr>,
    pub http: HttpLimits,
}

impl Settings {
    /// Reads the process environment after loading `.env` from the working directory.
    pub fn from_env() -> Result<Self, ConfigError> {
        load_dotenv();
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads settings through `raw_env`; an empty value counts as unset except for
    /// `RECORDING_NOTICE`, where empty means "say nothing".
    pub fn from_lookup(raw_env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = &|name: &str| raw_env(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| env(name).ok_or(ConfigError::Missing(name));
        let bind_raw = env("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind_addr: SocketAddr = bind_raw
            .parse()
            .map_err(|_| invalid("BIND_ADDR", "expected host:port, e.g. 127.0.0.1:8080"))?;
        let public_base_url = match env("PUBLIC_BASE_URL") {
            Some(url) => PublicBaseUrl::parse(&url)?,
            None => PublicBaseUrl::parse(&format!("http://{bind_addr}"))?,
        };
        let sms_sender = match (env("TWILIO_SMS_FROM"), env("TWILIO_MESSAGING_SERVICE_SID")) {
            (_, Some(sid)) => Some(SmsSender::MessagingService(sid)),
            (Some(from), None) => Some(SmsSender::From(from)),
            (None, None) => None,
        };
        let record_calls = match env("RECORD_CALLS")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(_) => return Err(invalid("RECORD_CALLS", "expected true or false")),
        };
        let recording_notice =
            raw_env("RECORDING_NOTICE").unwrap_or_else(|| "This call may be recorded.".to_owned());
        let recording_notice =
            Some(recording_notice).filter(|n| record_calls && !n.trim().is_empty());
        let poll_ms = match env("OUTBOX_POLL_MS") {
            None => 500,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=60_000).contains(ms))
                .ok_or_else(|| invalid("OUTBOX_POLL_MS", "expected milliseconds, 1 to 60000"))?,
        };
        Ok(Self {
            database: DatabaseSource::from_lookup(env),
            bind_addr,
            public_base_url,
            twilio: TwilioSettings {
                account_sid: required("TWILIO_ACCOUNT_SID")?,
                auth_token: required("TWILIO_AUTH_TOKEN")?.into(),
                api_base_url: env("TWILIO_API_BASE_URL")
                    .unwrap_or_else(|| "https://api.twilio.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
                sms_sender,
                secondary_auth_token: env("TWILIO_AUTH_TOKEN_SECONDARY").map(Into::into),
            },
            jwt_secret: required("JWT_SECRET")?.into(),
            gift_card_key: std::sync::Arc::new(parse_gift_card_key(&required("GIFT_CARD_KEY")?)?),
            voice: VoiceSettings {
                record_calls,
                recording_notice,
            },
            outbox: OutboxSettings {
                poll_interval: std::time::Duration::from_millis(poll_ms),
            },
            log_format: LogFormat::from_lookup(env),
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
        })
    }
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
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

/// The auth token's bytes, for signing and checking webhooks.
pub fn token_bytes(token: &SecretString) -> &[u8] {
    token.expose_secret().as_bytes()
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
        for name in [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "JWT_SECRET",
            "GIFT_CARD_KEY",
        ] {
            let vars: Vec<_> = complete().into_iter().filter(|(k, _)| *k != name).collect();
            assert_eq!(
                Settings::from_lookup(&lookup(&vars)).unwrap_err(),
                ConfigError::Missing(name)
            );
        }
    }

    #[test]
    fn public_base_url_keeps_a_prefix_and_drops_a_trailing_slash() {
        let url = PublicBaseUrl::parse("https://example.com/hooks/").unwrap();
        assert_eq!(
            url.join("/twilio/voice"),
            "https://example.com/hooks/twilio/voice"
        );
        assert!(PublicBaseUrl::parse("example.com").is_err());
        assert!(PublicBaseUrl::parse("https://example.com/?a=1").is_err());
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
