//! `calltrack stats rebuild [--campaign ID]`: counts the rollups again from the facts.

use anyhow::Context as _;
use uuid::Uuid;

use crate::app::rollups;
use crate::config::DatabaseSource;
use crate::startup::open_and_migrate;

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Only this campaign.
    #[arg(long)]
    pub campaign: Option<Uuid>,
}

/// Recounts and prints how many campaigns it counted.
pub async fn rebuild(args: RebuildArgs, source: &DatabaseSource) -> anyhow::Result<()> {
    let (database, pool) = open_and_migrate(source, 1).await?;
    let started = std::time::Instant::now();
    let result = async {
        let campaigns = rollups::rebuild(&pool, args.campaign, |_| {}).await?;
        rollups::vacuum_changes(&pool).await?;
        Ok::<_, crate::db::Error>(campaigns)
    }
    .await
    .context("recounting the rollups failed");
    drop(pool);
    database.shutdown()?;
    let campaigns = result?;
    if args.campaign.is_some() && campaigns == 0 {
        anyhow::bail!("no such campaign");
    }
    println!(
        "recounted {campaigns} campaign(s) from their calls and conditions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
