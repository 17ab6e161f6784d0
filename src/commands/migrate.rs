//! `calltrack migrate [--check]`: apply the migrations (adopting the platform's tables), or
//! only report what applying them would do.

use crate::config::DatabaseSource;
use crate::db::{self, Database};
use anyhow::Context as _;

use crate::startup::open_and_migrate;

/// Applies pending migrations, counts the campaigns whose facts predate the rollups (in
/// batches, one campaign a transaction, as `serve` would in the background), and exits.
pub async fn run(source: &DatabaseSource) -> anyhow::Result<()> {
    let (database, pool) = open_and_migrate(source, 1).await?;
    let filled = async {
        let mut counted = 0;
        loop {
            let batch = crate::app::rollups::fill(&pool, 50).await?;
            counted += batch;
            if batch < 50 {
                if counted > 0 {
                    crate::app::rollups::vacuum_changes(&pool).await?;
                }
                return Ok::<_, crate::db::Error>(counted);
            }
        }
    }
    .await;
    drop(pool);
    database.shutdown()?;
    let counted = filled.context("counting campaigns into the rollups failed")?;
    if counted > 0 {
        println!("counted {counted} campaign(s) into the statistics rollups");
    }
    Ok(())
}

/// Prints what `migrate` would do and changes nothing. Fails when the migration could not
/// proceed.
pub async fn check(source: &DatabaseSource) -> anyhow::Result<()> {
    let database = Database::open_in_background(source).await?;
    let client = db::pool::connect(&database.config).await?;
    let plan = db::migrate::check(&client).await;
    drop(client);
    database.shutdown()?;
    let plan = plan?;
    print!("{plan}");
    if plan.problems().is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "the migration cannot proceed: {} problem(s) listed above",
            plan.problems().len()
        )
    }
}
