//! Campaign performance: call and reward statistics.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::stats;

/// What the statistics use cases return, as the routes receive it.
pub use crate::db::stats::{CallStats, CampaignSummary, SeriesPoint};
use crate::db::{self, PgPool};
use crate::domain::{SeriesWindow, TimeRange};

/// The time zone a campaign's series is bucketed in, as handlers report it.
pub use crate::db::stats::SERIES_TIME_ZONE;

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

/// The series of a campaign the caller may see, one point per bucket of `window`.
pub async fn series(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    window: &SeriesWindow,
) -> Result<Vec<SeriesPoint>, StatsError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    stats::campaign_client(&tx, campaign_id)
        .await?
        .filter(|client| principal.scope.allows(*client))
        .ok_or(StatsError::NotFound)?;
    let points = stats::campaign_series(&tx, campaign_id, window).await?;
    commit(tx).await?;
    Ok(points)
}

/// Where "today" and "this week" begin for the campaign list: the start of the current UTC
/// day, and of the day six days before it (so the week is the last seven days, today
/// included, and never nearly empty on a Monday).
pub fn today_and_week(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |midnight| midnight.and_utc());
    (today, today - chrono::Duration::days(6))
}

/// A page of the caller's campaigns with their counts, newest first, and whether more follow.
pub async fn campaigns(
    pool: &PgPool,
    principal: &Principal,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<CampaignSummary>, bool), StatsError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let (today, week) = today_and_week(Utc::now());
    let (items, more) = stats::campaign_summaries(&tx, today, week, None, before, limit).await?;
    commit(tx).await?;
    // Row-level security already hides other clients' campaigns; the scope stands behind it.
    let items = items
        .into_iter()
        .filter(|c| principal.scope.allows(c.client_id))
        .collect();
    Ok((items, more))
}

/// One campaign the caller may see, with its counts.
pub async fn campaign_summary(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
) -> Result<CampaignSummary, StatsError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let (today, week) = today_and_week(Utc::now());
    let (items, _) =
        stats::campaign_summaries(&tx, today, week, Some(campaign_id), None, 1).await?;
    commit(tx).await?;
    items
        .into_iter()
        .find(|c| principal.scope.allows(c.client_id))
        .ok_or(StatsError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_starts_at_utc_midnight_and_the_week_six_days_before() {
        let now: DateTime<Utc> = "2026-03-10T15:20:00Z".parse().unwrap();
        let (today, week) = today_and_week(now);
        assert_eq!(
            today,
            "2026-03-10T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            week,
            "2026-03-04T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
