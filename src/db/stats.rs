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
