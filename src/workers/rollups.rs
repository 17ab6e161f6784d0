//! Folds the rollups' pending changes every second, and counts the campaigns whose facts
//! predate the rollups (after an upgrade or an adoption) in the background.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::rollups;
use crate::db::PgPool;

/// How often pending changes are folded. Readers add pending changes themselves, so this
/// bounds how many they add, not how fresh an answer is.
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// Runs until `stop` turns true. Failures (the database away) are logged when they start and
/// when they end.
pub async fn keep_rollups(pool: PgPool, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    let mut filling = true;
    let mut filling_counted = 0;
    loop {
        let result = async {
            rollups::fold(&pool).await?;
            if filling {
                // One campaign a turn, so a stop never waits on more than one count.
                let counted = rollups::fill(&pool, 1).await?;
                filling_counted += counted;
                filling = counted > 0;
                if !filling {
                    if filling_counted > 0 {
                        rollups::vacuum_changes(&pool).await?;
                    }
                    tracing::info!("every campaign is counted in the rollups");
                }
            }
            Ok::<_, crate::db::Error>(())
        }
        .await;
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("rollups kept again");
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{error:#}"),
                    "rollup changes cannot be folded; statistics read them pending meanwhile"
                );
            }
            _ => {}
        }
        let pause = if filling && !failing {
            Duration::ZERO
        } else {
            FOLD_EVERY
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
