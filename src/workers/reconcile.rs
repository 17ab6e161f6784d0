//! `serve`'s start-up reconciliation: once the schema is ready, in the background, the calls
//! and final statuses of the time since the last start-up run are read from Twilio.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::reconcile::{self, Run, RunOutcome};
use crate::db::PgPool;
use crate::twilio::client::TwilioClient;

/// Waits before the attempts after a failed one (Twilio or the database away).
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];

/// Runs the start-up reconciliation, retrying a failed run twice, until it is done or `stop`
/// turns true. Another instance already reconciling is not a failure: this one skips.
pub async fn reconcile_on_start(
    pool: PgPool,
    twilio: TwilioClient,
    mut stop: watch::Receiver<bool>,
) {
    let mut retries = RETRY_AFTER.iter();
    loop {
        let outcome = tokio::select! {
            outcome = reconcile::run(&pool, &twilio, Run::StartUp) => outcome,
            _ = stop.changed() => return,
        };
        let error = match outcome {
            Ok(RunOutcome::Ran { window, report }) => {
                tracing::info!(
                    since = %window.since,
                    until = %window.until,
                    calls_seen = report.calls_seen,
                    sessions_created = report.sessions_created,
                    statuses_completed = report.statuses_completed,
                    children_applied = report.children_applied,
                    "start-up reconciliation finished"
                );
                return;
            }
            Ok(RunOutcome::Busy) => {
                tracing::info!("another instance is reconciling with Twilio; this one skips");
                return;
            }
            Err(error) => error,
        };
        let error = format!("{:#}", anyhow::Error::from(error));
        let Some(wait) = retries.next() else {
            tracing::warn!(%error, "start-up reconciliation failed; `calltrack reconcile` or the next start covers its window");
            return;
        };
        tracing::warn!(%error, retry_in_s = wait.as_secs(), "start-up reconciliation failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(*wait) => {}
            _ = stop.changed() => return,
        }
    }
}
