//! Meets the conditions that fall due by themselves (time delays after the first answered
//! call, and call rules handed over by a call's write) every `CONDITION_CHECK_INTERVAL_MS`.
//! Any number of instances may run it: rows are claimed with `SKIP LOCKED` and deleted in the
//! transaction that meets them, so each is met once across instances and restarts.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::conditions;
use crate::db::PgPool;

/// Runs until `stop` turns true. Failures (the database away) are logged when they start and
/// when they end; what was due is met at the next turn that reaches the database.
pub async fn meet_due_conditions(
    pool: PgPool,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        match conditions::meet_due(&pool).await {
            Ok(taken) => {
                if failing {
                    failing = false;
                    tracing::info!("due conditions are met again");
                }
                if taken > 0 {
                    tracing::info!(taken, "due conditions met or skipped");
                }
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{error:#}"),
                    "due conditions cannot be met now; they are met once the database answers"
                );
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
