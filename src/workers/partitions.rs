//! The `events` table is partitioned by month; this keeps the partitions ahead of time.

use std::time::Duration;

use crate::db::{self, PgPool};

/// Partitions for the months ahead are created daily, so a long-running server never writes
/// a month's events into the default partition.
///
/// The first run is a day after start: the start-up migration (now, or once the database
/// answers) has just made them.
pub async fn keep_event_partitions_ahead(pool: PgPool) {
    let every = Duration::from_secs(24 * 3600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let result = match pool.get().await {
            Ok(client) => db::migrate::ensure_event_partitions(&client).await,
            Err(e) => Err(e.into()),
        };
        if let Err(error) = result {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not create events partitions"
            );
        }
    }
}
