//! Keeps the routing copy fresh: polls the routing version and reloads when it moves, and
//! writes to the snapshot what the copy learned from live answers since the last write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::routing::RoutingCopy;
use crate::db::PgPool;

/// Polls every `interval` until `stop` turns true. Failures are logged once when they start
/// and once when they end, not every second of an outage.
pub async fn keep_routing_fresh(
    copy: Arc<RoutingCopy>,
    pool: PgPool,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    let mut saving_fails = false;
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
        // Whether or not the database answered: a route learned just before an outage must
        // reach the disk for a restart during it.
        match copy.save_if_unsaved().await {
            Ok(_) if saving_fails => {
                saving_fails = false;
                tracing::info!("routing snapshot written again");
            }
            Ok(_) => {}
            Err(error) if !saving_fails => {
                saving_fails = true;
                tracing::warn!(%error, "routing snapshot cannot be written; a restart would forward with an older copy");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {
                // What the last calls taught the copy outlives the process.
                if let Err(error) = copy.save_if_unsaved().await {
                    tracing::warn!(%error, "routing snapshot not written at stop");
                }
                return;
            }
        }
    }
}
