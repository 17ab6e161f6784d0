//! Campaign call statistics: one statement over the campaign's sessions and conditions.

use std::collections::BTreeMap;

use super::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// What `GET /api/v1/campaigns/{id}/call-stats` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct CallStats {
    pub total_calls: i64,
    /// Distinct caller numbers; withheld callers are not counted.
    pub unique_callers: i64,
    pub matched: i64,
    pub unmatched: i64,
    /// Calls a person at the business took (`call_outcome` answered).
    pub answered: i64,
    /// Calls the business did not take: the forwarded leg rang out, was busy or failed, or a
    /// screened call was never accepted.
    pub missed: i64,
    /// Calls where the caller left a message in calltrack's voicemail.
    pub voicemail: i64,
    /// Calls the caller hung up on before the business answered.
    pub abandoned: i64,
    /// Mean talk time of answered calls, in seconds; null without any.
    pub avg_talk_seconds: Option<f64>,
    pub recorded: i64,
    /// Conditions met, by condition number.
    pub conditions_met: BTreeMap<String, i64>,
    pub rewards_provisioned: i64,
    pub rewards_delivered: i64,
    pub rewards_failed: i64,
    /// Rewards not yet delivered or failed: waiting for cards, or queued or sent by SMS.
    pub rewards_pending: i64,
    /// Rewards that claimed no card because neither the caller nor the recipient has a phone.
    pub rewards_no_phone: i64,
}

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
    let by_condition: serde_json::Value = row.get("by_condition");
    let conditions_met = by_condition
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Ok(CallStats {
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
    })
}

/// The client a campaign belongs to, if the (restricted) caller can see it.
pub async fn campaign_client(tx: &impl GenericClient, campaign_id: Uuid) -> Result<Option<Uuid>> {
    let row = tx
        .query_opt(
            "SELECT client_id FROM campaigns WHERE id = $1 AND deleted_at IS NULL",
            &[&campaign_id],
        )
        .await
        .context("loading the campaign failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// One bucket of a campaign's series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub start: DateTime<Utc>,
    pub total_calls: i64,
    pub matched: i64,
    pub unmatched: i64,
    pub answered: i64,
    pub missed: i64,
    pub voicemail: i64,
    pub abandoned: i64,
    /// Calls still live (no outcome yet).
    pub live: i64,
    /// Conditions met in the bucket (by when they were met).
    pub conditions_met: i64,
    pub rewards_provisioned: i64,
    /// Rewards whose SMS Twilio accepted: sent, and those since delivered.
    pub rewards_sent: i64,
    pub rewards_delivered: i64,
    pub rewards_failed: i64,
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

/// The time zone buckets are cut in. `clients` has no time zone column in the platform's
/// schema, so every campaign's days are UTC days.
pub const SERIES_TIME_ZONE: &str = "UTC";

/// The campaign's counts per bucket of `window`, every bucket present (zeros included).
pub async fn campaign_series(
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
            SERIES,
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

/// A campaign at a glance, for the manager console's list.
#[derive(Debug, Clone)]
pub struct CampaignSummary {
    pub id: Uuid,
    pub client_id: Uuid,
    pub client_name: String,
    pub name: String,
    pub status: String,
    pub mail_date: Option<chrono::NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub total_calls: i64,
    pub calls_today: i64,
    pub calls_this_week: i64,
    /// Calls with an outcome (not live), the base of the answer rate.
    pub settled_calls: i64,
    pub answered: i64,
    pub matched: i64,
    pub conditions_met: i64,
    pub rewards_delivered: i64,
    pub active_numbers: i64,
}

/// The campaigns statement: $1 the start of today, $2 of the week (both UTC), $3 one
/// campaign or all the caller sees, $4/$5 the keyset position (created_at, id), $6 the page
/// size plus one. Each campaign's sessions are counted off the covering stats index.
pub const CAMPAIGNS: &str = r"
SELECT k.id, k.client_id, cl.name AS client_name, k.name, k.status::text AS status, k.mail_date, k.created_at,
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
/// follow; or, with `only`, that one campaign.
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
        .map(|row| CampaignSummary {
            id: row.get("id"),
            client_id: row.get("client_id"),
            client_name: row.get("client_name"),
            name: row.get("name"),
            status: row.get("status"),
            mail_date: row.get("mail_date"),
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
        })
        .collect();
    Ok((items, more))
}
