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
