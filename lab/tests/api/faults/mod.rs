//! PostgreSQL away, hung or killed under the service: the fail-open answers, the spool and its
//! replay, deadlines, and a `calltrack serve` child on a private cluster that is stopped,
//! frozen and killed.

mod auto_conditions;
mod deadlines;
mod fail_open;
mod fallback;
mod rollups;
mod serve_children;
mod webhook_events;

use crate::helpers::TestApp;

/// A database URL nothing listens on: connecting is refused at once.
fn unreachable_database() -> tokio_postgres::Config {
    "postgres://postgres@127.0.0.1:1/postgres".parse().unwrap()
}

/// The spool segments the service has written and not yet replayed away.
fn spool_segments(app: &TestApp) -> usize {
    std::fs::read_dir(&app.spool_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                .count()
        })
        .unwrap_or(0)
}
