//! Campaign performance: call and reward statistics.

use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::stats::{self, CallStats};
use crate::db::{self, PgPool};
use crate::domain::TimeRange;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("no such campaign")]
    NotFound,
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// The statistics of a campaign the caller may see, over `range`.
pub async fn campaign(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    range: TimeRange,
) -> Result<CallStats, StatsError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    stats::campaign_client(&tx, campaign_id)
        .await?
        .filter(|client| principal.scope.allows(*client))
        .ok_or(StatsError::NotFound)?;
    let stats = stats::campaign_stats(&tx, campaign_id, range.from(), range.to()).await?;
    commit(tx).await?;
    Ok(stats)
}
