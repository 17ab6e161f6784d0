//! Keeping the campaign rollups: folding the writes' pending changes, counting campaigns
//! whose facts predate the rollups, and the operator's full recount.

use uuid::Uuid;

use super::connection;
use crate::db::{self, PgPool, rollups};

/// Pending changes folded per transaction: a bounded statement however far behind the fold
/// fell (after an outage, say).
const FOLD_BATCH: i32 = 5_000;

/// Folds every pending change (in bounded batches); returns how many it folded, `0` when
/// another process is folding.
pub async fn fold(pool: &PgPool) -> Result<u64, db::Error> {
    let mut conn = connection(pool).await?;
    let mut total = 0;
    loop {
        let folded = rollups::fold_changes(&mut conn, FOLD_BATCH).await?;
        total += folded;
        if folded < u64::try_from(FOLD_BATCH).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

/// Counts, one transaction each, up to `limit` campaigns whose facts predate the rollups;
/// returns how many it counted (fewer than `limit`: none are left).
pub async fn fill(pool: &PgPool, limit: i64) -> Result<usize, db::Error> {
    let mut conn = connection(pool).await?;
    let campaigns = rollups::campaigns_to_fill(&conn, limit).await?;
    for campaign_id in &campaigns {
        rollups::recount_campaign(&mut conn, *campaign_id).await?;
    }
    Ok(campaigns.len())
}

/// Vacuums the change queues after a mass count ([`fill`] or [`rebuild`] of many campaigns).
pub async fn vacuum_changes(pool: &PgPool) -> Result<(), db::Error> {
    let conn = connection(pool).await?;
    rollups::vacuum_changes(&conn).await
}

/// Counts every campaign (or `only`) again from its facts, one transaction per campaign;
/// returns the campaigns counted. Safe while the service runs: writes committed meanwhile
/// are kept as pending changes.
pub async fn rebuild(
    pool: &PgPool,
    only: Option<Uuid>,
    mut counted: impl FnMut(Uuid),
) -> Result<usize, db::Error> {
    let mut conn = connection(pool).await?;
    let campaigns = rollups::campaigns_to_recount(&conn, only).await?;
    for campaign_id in &campaigns {
        rollups::recount_campaign(&mut conn, *campaign_id).await?;
        counted(*campaign_id);
    }
    Ok(campaigns.len())
}
