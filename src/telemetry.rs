//! The tracing subscriber: JSON lines in production, pretty on a terminal.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber; the level comes from `RUST_LOG`, else `default_level`.
/// Calling it twice is harmless, so tests may call it freely.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
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

#[cfg(test)]
mod tests {
    use super::RateLimitedLog;

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
