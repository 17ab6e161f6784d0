//! The tracing subscriber: JSON lines in production, pretty on a terminal.

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterFn, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

mod json_line;
mod line_queue;

/// The database driver logs every statement with its parameters (phone numbers among them)
/// at debug level, so its target is held at info unless `RUST_LOG` names it itself.
const DRIVER_TARGET: &str = "tokio_postgres";

/// How log lines are written: JSON lines, or compact text for a person at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    /// `LOG_FORMAT` (`json` or `pretty`) through `env`; otherwise pretty on a terminal and
    /// JSON anywhere else.
    pub fn from_lookup(env: &impl Fn(&str) -> Option<String>) -> Self {
        match env("LOG_FORMAT").as_deref() {
            Some("json") => Self::Json,
            Some("pretty") => Self::Pretty,
            _ if std::io::IsTerminal::is_terminal(&std::io::stdout()) => Self::Pretty,
            _ => Self::Json,
        }
    }
}

/// Keeps the background log writer running; dropping it writes out every line still queued.
/// `main` holds it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogFlush {
    _writer: Option<line_queue::Writer>,
}

/// Installs the global subscriber; the level comes from `RUST_LOG`, else `default_level`.
/// Lines go to standard error from a thread of their own: a request never waits on the
/// write (a file's writeback stalled the service's p99 by tens of milliseconds), and none
/// is dropped (a full queue makes the logging thread wait). `tokio_postgres` logs at most
/// at info whatever the level, unless `RUST_LOG` has a directive for it
/// (`tokio_postgres=debug`).
pub fn init(format: LogFormat, default_level: &str) -> LogFlush {
    match line_queue::start(std::io::stderr(), line_queue::QUEUED_BYTES, "calltrack-log") {
        Ok((queue, writer)) => {
            install(format, default_level, queue);
            LogFlush {
                _writer: Some(writer),
            }
        }
        Err(error) => {
            // Without a thread of its own, each line is written by the thread that logs it.
            install(format, default_level, std::io::stderr);
            tracing::warn!(%error, "no log writer thread; writing log lines in place");
            LogFlush { _writer: None }
        }
    }
}

/// As [`init`], but each line is written by the thread that logs it, so nothing is queued
/// when a test process exits. Calling it twice is harmless, so tests may call it freely.
pub fn init_in_place(format: LogFormat, default_level: &str) {
    install(format, default_level, std::io::stderr);
}

fn install<W>(format: LogFormat, default_level: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = env_filter(rust_log.as_deref(), default_level);
    let cap = driver_cap(rust_log.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(json_line::SpanFields)
            .event_format(json_line::JsonLine)
            .finish()
            .with(cap)
            .try_init(),
        LogFormat::Pretty => builder.compact().finish().with(cap).try_init(),
    };
}

/// Admits at most `limit` log lines per wall-clock second; what it refuses is counted and
/// reported with the next line it admits.
pub struct RateLimitedLog {
    limit: u32,
    second: std::sync::atomic::AtomicU64,
    admitted: std::sync::atomic::AtomicU32,
    suppressed: std::sync::atomic::AtomicU64,
}

impl RateLimitedLog {
    pub const fn per_second(limit: u32) -> Self {
        Self {
            limit,
            second: std::sync::atomic::AtomicU64::new(0),
            admitted: std::sync::atomic::AtomicU32::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(lines suppressed since the last admitted one)` when this line may be logged.
    pub fn admit(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Relaxed) != now {
            self.admitted.store(0, Relaxed);
        }
        if self.admitted.fetch_add(1, Relaxed) < self.limit {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// `RUST_LOG`'s directives, or `default_level` when it is unset or invalid.
fn env_filter(rust_log: Option<&str>, default_level: &str) -> EnvFilter {
    rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level))
}

/// Whether `rust_log` has a directive for the driver's target (or one of its modules).
fn names_driver(rust_log: &str) -> bool {
    rust_log
        .split(',')
        .any(|directive| directive.trim().starts_with(DRIVER_TARGET))
}

fn is_driver(target: &str) -> bool {
    target
        .strip_prefix(DRIVER_TARGET)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// A global filter that drops the driver's events above info, unless `rust_log` names the
/// driver; everything else is left to the `RUST_LOG` filter.
fn driver_cap(rust_log: Option<&str>) -> FilterFn<impl Fn(&Metadata<'_>) -> bool + use<>> {
    let capped = !rust_log.is_some_and(names_driver);
    filter_fn(move |meta| !(capped && *meta.level() > Level::INFO && is_driver(meta.target())))
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// What the subscriber built from `rust_log` lets through, at three callsites.
    fn enabled(rust_log: Option<&str>) -> (bool, bool, bool) {
        let subscriber = tracing_subscriber::registry()
            .with(env_filter(rust_log, "info"))
            .with(driver_cap(rust_log));
        tracing::subscriber::with_default(subscriber, || {
            (
                tracing::enabled!(target: "tokio_postgres::query", Level::DEBUG),
                tracing::enabled!(target: "tokio_postgres::query", Level::INFO),
                tracing::enabled!(target: "calltrack::db", Level::DEBUG),
            )
        })
    }

    #[test]
    fn the_drivers_debug_lines_are_off_even_at_debug_level() {
        assert_eq!(enabled(Some("debug")), (false, true, true));
        assert_eq!(enabled(Some("trace")), (false, true, true));
        // `tokio` is a prefix of the driver's target, but not a directive for it.
        assert_eq!(enabled(Some("info,tokio=debug")), (false, true, false));
    }

    #[test]
    fn an_explicit_directive_for_the_driver_turns_its_debug_lines_on() {
        assert_eq!(
            enabled(Some("info,tokio_postgres=debug")),
            (true, true, false)
        );
        assert_eq!(
            enabled(Some("tokio_postgres::query=debug")),
            (true, true, false)
        );
    }

    #[test]
    fn the_cap_never_raises_a_level() {
        assert_eq!(enabled(Some("warn")), (false, false, false));
        assert_eq!(enabled(None), (false, true, false));
    }

    #[test]
    fn only_the_driver_and_its_modules_are_the_driver() {
        assert!(is_driver("tokio_postgres"));
        assert!(is_driver("tokio_postgres::query"));
        assert!(!is_driver("tokio_postgres_extra"));
        assert!(!is_driver("tokio"));
        assert!(names_driver("warn, tokio_postgres::prepare=trace"));
        assert!(!names_driver("debug,tokio=trace"));
    }

    #[test]
    fn a_flood_is_cut_to_the_limit_and_the_rest_is_counted() {
        let log = RateLimitedLog::per_second(3);
        let admitted = (0..1000).filter(|_| log.admit().is_some()).count();
        // The loop may straddle a second boundary, which admits one more batch.
        assert!((3..=6).contains(&admitted), "admitted {admitted}");
        let total = log.suppressed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(total >= 994, "suppressed {total}");
    }
}
