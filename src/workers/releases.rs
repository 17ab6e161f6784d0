//! Numbers Twilio sold us that could not be stored are owed back; this keeps releasing them.

use std::time::Duration;

use crate::app::numbers::{self, Numbers};

/// How often the owed releases are retried.
const RETRY_EVERY: Duration = Duration::from_secs(300);

/// Keeps retrying owed releases while the server runs.
pub async fn settle_owed_releases_forever(numbers: Numbers) {
    let mut tick = tokio::time::interval(RETRY_EVERY);
    loop {
        tick.tick().await;
        match numbers::settle_owed_releases(&numbers).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released numbers that could not be stored"),
            Err(error) => tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "owed number releases not settled"
            ),
        }
    }
}
