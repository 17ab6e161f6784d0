//! Keeps the routing copy fresh: polls the routing version and reloads when it moves.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::routing::RoutingCopy;
use crate::db::PgPool;

/// How often the version is read: one primary-key read per process per interval.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Polls until `stop` turns true. Failures are logged once when they start and once when
/// they end, not every second of an outage.
pub async fn keep_routing_fresh(
    copy: Arc<RoutingCopy>,
    pool: PgPool,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        match copy.refresh(&pool).await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("routing copy refreshing again");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{error:#}"),
                    numbers = copy.len(),
                    "routing copy cannot refresh; forwarding with what it holds"
                );
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
