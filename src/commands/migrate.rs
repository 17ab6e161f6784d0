//! `calltrack migrate [--check]`: apply the migrations (adopting the platform's tables), or
//! only report what applying them would do.

use crate::config::DatabaseSource;
use crate::db::{self, Database};
use crate::startup::open_migrated;

/// Applies pending migrations and exits.
pub async fn run(source: &DatabaseSource) -> anyhow::Result<()> {
    let database = open_migrated(source).await?;
    database.shutdown()
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
