//! `calltrack reconcile --since DURATION`: the operator's run of the reconciliation `serve`
//! makes on start, over a window of their choosing.

use anyhow::Context as _;

use crate::app::reconcile::{self, Run, RunOutcome};
use crate::config::ReconcileSettings;
use crate::domain::LookBack;
use crate::startup::open_and_migrate;
use crate::twilio::client::TwilioClient;

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// How far back to read Twilio's call log: 30m, 2h, 3d, 1h30m (at most 400d).
    #[arg(long, value_parser = LookBack::parse)]
    pub since: LookBack,
}

/// Reconciles the calls of the last `args.since` and prints what it did, one count a line.
/// Fails when Twilio or the database does, or when another process is reconciling.
pub async fn run(args: ReconcileArgs, settings: ReconcileSettings) -> anyhow::Result<()> {
    // One connection holds the lock while the other does the work.
    let (database, pool) = open_and_migrate(&settings.database, 2).await?;
    let result = async {
        let twilio = TwilioClient::new(&settings.twilio)?;
        let since = chrono::Utc::now() - args.since.duration();
        let outcome = reconcile::run(&pool, &twilio, Run::Command { since })
            .await
            .context("reconciliation failed")?;
        match outcome {
            RunOutcome::Ran { window, report } => {
                println!(
                    "reconciled calls started from {} to {}",
                    window.since.to_rfc3339(),
                    window.until.to_rfc3339()
                );
                println!("calls seen: {}", report.calls_seen);
                println!("sessions created: {}", report.sessions_created);
                println!("statuses completed: {}", report.statuses_completed);
                println!("children applied: {}", report.children_applied);
                Ok(())
            }
            RunOutcome::Busy => anyhow::bail!(
                "another reconciliation is running (a serve start-up run or another `calltrack reconcile`); try again when it has finished"
            ),
        }
    }
    .await;
    database.shutdown()?;
    result
}
