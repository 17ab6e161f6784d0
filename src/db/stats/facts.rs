//! Campaign statistics counted from the facts themselves, as every page did before the
//! rollups: for the ragged edges of a range, for campaigns not counted into the rollups yet,
//! and as the reference the rollups are tested against.

use super::{CallStats, CampaignSummary, SERIES_TIME_ZONE, SeriesPoint};
use crate::db::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// Sessions are read through the (campaign_id, created_at) index, conditions through
/// (campaign_id); both aggregates run in the same statement.
const CALL_STATS: &str = r"
WITH calls AS (
    SELECT count(*) AS total_calls,
           count(DISTINCT caller_phone) AS unique_callers,
           count(*) FILTER (WHERE match_status = 'matched') AS matched,
           count(*) FILTER (WHERE match_status = 'unmatched') AS unmatched,
           count(*) FILTER (WHERE call_outcome = 'answered') AS answered,
           count(*) FILTER (WHERE call_outcome = 'missed') AS missed,
           count(*) FILTER (WHERE call_outcome = 'voicemail') AS voicemail,
           count(*) FILTER (WHERE call_outcome = 'abandoned') AS abandoned,
           avg(talk_seconds) FILTER (WHERE call_answered_at IS NOT NULL AND talk_seconds IS NOT NULL)::float8 AS avg_talk,
           count(*) FILTER (WHERE recording_sid IS NOT NULL) AS recorded
    FROM call_sessions
    WHERE campaign_id = $1
      AND ($2::timestamptz IS NULL OR created_at >= $2)
      AND ($3::timestamptz IS NULL OR created_at < $3)
), met AS (
    SELECT condition_number, reward_status, delivery_status
    FROM call_conditions_met
    WHERE campaign_id = $1
      AND ($2::timestamptz IS NULL OR met_at >= $2)
      AND ($3::timestamptz IS NULL OR met_at < $3)
), rewards AS (
    SELECT coalesce(jsonb_object_agg(condition_number::text, n), '{}') AS by_condition
    FROM (SELECT condition_number, count(*) AS n FROM met GROUP BY condition_number) per_condition
)
SELECT calls.*, rewards.by_condition,
       (SELECT count(*) FROM met WHERE reward_status = 'provisioned') AS provisioned,
       (SELECT count(*) FROM met WHERE delivery_status = 'delivered') AS delivered,
       (SELECT count(*) FROM met WHERE delivery_status = 'failed') AS failed,
       (SELECT count(*) FROM met WHERE reward_status = 'pool_exhausted'
            OR (reward_status = 'provisioned' AND delivery_status IN ('pending', 'sent'))) AS pending,
       (SELECT count(*) FROM met WHERE reward_status = 'no_phone') AS no_phone
FROM calls, rewards
";

/// The statistics of `campaign_id` over `[from, to)`, counted from its facts.
pub async fn campaign_stats(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<CallStats> {
    let row = tx
        .query_one(CALL_STATS, &[&campaign_id, &from, &to])
        .await
        .context("computing call statistics failed")?;
    Ok(call_stats_from_row(&row))
}

/// A row of a call-stats statement (this one's or the rollups'), by column name.
pub(super) fn call_stats_from_row(row: &tokio_postgres::Row) -> CallStats {
    let by_condition: serde_json::Value = row.get("by_condition");
    let conditions_met = by_condition
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    CallStats {
        total_calls: row.get("total_calls"),
        unique_callers: row.get("unique_callers"),
        matched: row.get("matched"),
        unmatched: row.get("unmatched"),
        answered: row.get("answered"),
        missed: row.get("missed"),
        voicemail: row.get("voicemail"),
        abandoned: row.get("abandoned"),
        avg_talk_seconds: row.get("avg_talk"),
        recorded: row.get("recorded"),
        conditions_met,
        rewards_provisioned: row.get("provisioned"),
        rewards_delivered: row.get("delivered"),
        rewards_failed: row.get("failed"),
        rewards_pending: row.get("pending"),
        rewards_no_phone: row.get("no_phone"),
    }
}

/// The series statement: $1 campaign, $2 and $3 the window (whole buckets), $4 the bucket
/// length as the text of an interval (tokio-postgres has no interval type), $5 `day` or `hour`, $6 the time zone buckets are cut in.
/// Sessions are grouped straight off the covering stats index (every column it reads is in
/// the index, so it is an index-only scan of that campaign's rows in the window); conditions
/// through `call_conditions_met (campaign_id)`. Empty buckets come from `generate_series`,
/// whose step is a fixed number of hours so the session's own `TimeZone` cannot move it.
pub const SERIES: &str = r"
WITH buckets AS (
    SELECT generate_series($2::timestamptz, $3::timestamptz - $4::text::interval, $4::text::interval) AS start
), calls AS (
    SELECT date_trunc($5::text, created_at, $6::text) AS start,
           count(*) AS total_calls,
           count(*) FILTER (WHERE match_status = 'matched') AS matched,
           count(*) FILTER (WHERE match_status = 'unmatched') AS unmatched,
           count(*) FILTER (WHERE call_outcome = 'answered') AS answered,
           count(*) FILTER (WHERE call_outcome = 'missed') AS missed,
           count(*) FILTER (WHERE call_outcome = 'voicemail') AS voicemail,
           count(*) FILTER (WHERE call_outcome = 'abandoned') AS abandoned,
           count(*) FILTER (WHERE call_outcome IS NULL) AS live
    FROM call_sessions
    WHERE campaign_id = $1 AND created_at >= $2 AND created_at < $3
    GROUP BY 1
), met AS (
    SELECT date_trunc($5::text, met_at, $6::text) AS start,
           count(*) AS conditions_met,
           count(*) FILTER (WHERE reward_status = 'provisioned') AS provisioned,
           count(*) FILTER (WHERE delivery_status IN ('sent', 'delivered')) AS sent,
           count(*) FILTER (WHERE delivery_status = 'delivered') AS delivered,
           count(*) FILTER (WHERE delivery_status = 'failed') AS failed
    FROM call_conditions_met
    WHERE campaign_id = $1 AND met_at >= $2 AND met_at < $3
    GROUP BY 1
)
SELECT b.start,
       coalesce(c.total_calls, 0) AS total_calls, coalesce(c.matched, 0) AS matched,
       coalesce(c.unmatched, 0) AS unmatched, coalesce(c.answered, 0) AS answered,
       coalesce(c.missed, 0) AS missed, coalesce(c.voicemail, 0) AS voicemail,
       coalesce(c.abandoned, 0) AS abandoned, coalesce(c.live, 0) AS live,
       coalesce(m.conditions_met, 0) AS conditions_met, coalesce(m.provisioned, 0) AS provisioned,
       coalesce(m.sent, 0) AS sent, coalesce(m.delivered, 0) AS delivered,
       coalesce(m.failed, 0) AS failed
FROM buckets b
LEFT JOIN calls c ON c.start = b.start
LEFT JOIN met m ON m.start = b.start
ORDER BY b.start
";

/// The campaign's counts per bucket of `window`, every bucket present (zeros included),
/// counted from its facts.
pub async fn campaign_series(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    window: &crate::domain::SeriesWindow,
) -> Result<Vec<SeriesPoint>> {
    series_with(SERIES, tx, campaign_id, window).await
}

/// Runs a series `statement` (this one's or the rollups': the same parameters and columns).
pub(super) async fn series_with(
    statement: &str,
    tx: &impl GenericClient,
    campaign_id: Uuid,
    window: &crate::domain::SeriesWindow,
) -> Result<Vec<SeriesPoint>> {
    let step = match window.bucket() {
        crate::domain::Bucket::Day => "24 hours",
        crate::domain::Bucket::Hour => "1 hour",
    };
    let rows = tx
        .query(
            statement,
            &[
                &campaign_id,
                &window.from(),
                &window.to(),
                &step,
                &window.bucket().as_str(),
                &SERIES_TIME_ZONE,
            ],
        )
        .await
        .context("computing the call series failed")?;
    Ok(rows
        .iter()
        .map(|row| SeriesPoint {
            start: row.get("start"),
            total_calls: row.get("total_calls"),
            matched: row.get("matched"),
            unmatched: row.get("unmatched"),
            answered: row.get("answered"),
            missed: row.get("missed"),
            voicemail: row.get("voicemail"),
            abandoned: row.get("abandoned"),
            live: row.get("live"),
            conditions_met: row.get("conditions_met"),
            rewards_provisioned: row.get("provisioned"),
            rewards_sent: row.get("sent"),
            rewards_delivered: row.get("delivered"),
            rewards_failed: row.get("failed"),
        })
        .collect())
}

/// The campaigns statement: $1 the start of today, $2 of the week (both UTC), $3 one
/// campaign or all the caller sees, $4/$5 the keyset position (created_at, id), $6 the page
/// size plus one. Each campaign's sessions are counted off the covering stats index.
pub const CAMPAIGNS: &str = r"
SELECT k.id, k.client_id, cl.name AS client_name, k.name, k.status::text AS status, k.mail_date,
       k.recording_retention_days, k.created_at,
       s.total_calls, s.calls_today, s.calls_this_week, s.settled_calls, s.answered, s.matched,
       m.conditions_met, m.rewards_delivered,
       (SELECT count(*) FROM tracked_phone_numbers t
        WHERE t.campaign_id = k.id AND t.is_active) AS active_numbers
FROM campaigns k
JOIN clients cl ON cl.id = k.client_id
CROSS JOIN LATERAL (
    SELECT count(*) AS total_calls,
           count(*) FILTER (WHERE created_at >= $1) AS calls_today,
           count(*) FILTER (WHERE created_at >= $2) AS calls_this_week,
           count(*) FILTER (WHERE call_outcome IS NOT NULL) AS settled_calls,
           count(*) FILTER (WHERE call_outcome = 'answered') AS answered,
           count(*) FILTER (WHERE match_status = 'matched') AS matched
    FROM call_sessions WHERE campaign_id = k.id
) s
CROSS JOIN LATERAL (
    SELECT count(*) AS conditions_met,
           count(*) FILTER (WHERE delivery_status = 'delivered') AS rewards_delivered
    FROM call_conditions_met WHERE campaign_id = k.id
) m
WHERE k.deleted_at IS NULL
  AND ($3::uuid IS NULL OR k.id = $3)
  AND ($4::timestamptz IS NULL OR (k.created_at, k.id) < ($4, $5::uuid))
ORDER BY k.created_at DESC, k.id DESC
LIMIT $6
";

/// A page of the campaigns the (restricted) caller sees, newest first, and whether more
/// follow; or, with `only`, that one campaign: counted from the facts.
pub async fn campaign_summaries(
    tx: &impl GenericClient,
    today: DateTime<Utc>,
    week: DateTime<Utc>,
    only: Option<Uuid>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<CampaignSummary>, bool)> {
    let (before_at, before_id) = before.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let rows = tx
        .query(
            CAMPAIGNS,
            &[&today, &week, &only, &before_at, &before_id, &(limit + 1)],
        )
        .await
        .context("listing campaigns failed")?;
    let more = rows.len() as i64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(campaign_summary_from_row)
        .collect();
    Ok((items, more))
}

/// A row of a campaigns statement (this one's or the rollups'), by column name.
pub(super) fn campaign_summary_from_row(row: &tokio_postgres::Row) -> CampaignSummary {
    CampaignSummary {
        id: row.get("id"),
        client_id: row.get("client_id"),
        client_name: row.get("client_name"),
        name: row.get("name"),
        status: row.get("status"),
        mail_date: row.get("mail_date"),
        recording_retention_days: row.get("recording_retention_days"),
        created_at: row.get("created_at"),
        total_calls: row.get("total_calls"),
        calls_today: row.get("calls_today"),
        calls_this_week: row.get("calls_this_week"),
        settled_calls: row.get("settled_calls"),
        answered: row.get("answered"),
        matched: row.get("matched"),
        conditions_met: row.get("conditions_met"),
        rewards_delivered: row.get("rewards_delivered"),
        active_numbers: row.get("active_numbers"),
    }
}
