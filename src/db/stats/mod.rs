//! Campaign statistics, read from the rollups the writes keep (migrations/V11): the whole
//! hours of a range from the hourly rows, its ragged edges from the facts ([`facts`]), a
//! campaign's all-time counts from its totals row, each plus the changes not folded yet.
//! A campaign whose facts predate the rollups and are not counted yet is read from the
//! facts, as before.

pub mod facts;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};
use super::rollups;

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

/// A campaign at a glance, for the manager console's list.
#[derive(Debug, Clone)]
pub struct CampaignSummary {
    pub id: Uuid,
    pub client_id: Uuid,
    pub client_name: String,
    pub name: String,
    pub status: String,
    pub mail_date: Option<chrono::NaiveDate>,
    /// Days the campaign's recordings are kept at Twilio; `None` keeps them.
    pub recording_retention_days: Option<i32>,
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

/// The time zone buckets are cut in. `clients` has no time zone column in the platform's
/// schema, so every campaign's days are UTC days.
pub const SERIES_TIME_ZONE: &str = "UTC";

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

/// The whole hours inside `[from, to)`: the first hour boundary at or after `from` and the
/// last at or before `to` (either open when its bound is).
fn whole_hours(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    // By whole seconds, as `SeriesWindow` does: chrono's `duration_trunc` works in
    // nanoseconds and gives up outside the years 1677 to 2262.
    let floor = |at: DateTime<Utc>| {
        let secs = at.timestamp();
        DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(at)
    };
    let first = from.map(|at| {
        let down = floor(at);
        if down == at {
            at
        } else {
            down + Duration::hours(1)
        }
    });
    (first, to.map(floor))
}

/// The call-stats statement. $1 campaign, $2/$3 the range (either may be null: open), $4/$5
/// its whole hours ([`whole_hours`]). Parts, summed: the totals row when the range is open
/// at both ends, else the hourly rows of [$4, $5); the pending changes of the same hours;
/// the facts of [$2, $4) and [$5, $3), the ragged edges. Unique callers are additive only
/// from the campaign's start: by first calls (rollups) plus the callers of the right edge
/// whose first call falls in it; a range with a start that runs to now, by last calls
/// likewise; any other range counts distinct callers in the facts.
const CALL_STATS: &str = r"
WITH counting AS (
    SELECT EXISTS (SELECT 1 FROM calltrack_rollup_fill WHERE campaign_id = $1) AS uncounted
), edges AS (
    -- Each edge is its own index range: an OR of the two would not be.
    SELECT $2::timestamptz AS start, least($4::timestamptz, $3::timestamptz) AS stop
    WHERE $2::timestamptz IS NOT NULL
    UNION ALL
    SELECT greatest($5::timestamptz, $4::timestamptz), $3::timestamptz
    WHERE $3::timestamptz IS NOT NULL
), parts AS (
    SELECT calls, matched, unmatched, answered, missed, voicemail, abandoned, live,
           talk_seconds, talked, recorded, new_callers
    FROM campaign_call_totals
    WHERE campaign_id = $1 AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL
    UNION ALL
    SELECT calls, matched, unmatched, answered, missed, voicemail, abandoned, live,
           talk_seconds, talked, recorded, new_callers
    FROM campaign_call_hours
    WHERE campaign_id = $1 AND NOT ($4::timestamptz IS NULL AND $5::timestamptz IS NULL)
      AND ($4::timestamptz IS NULL OR hour >= $4) AND ($5::timestamptz IS NULL OR hour < $5)
    UNION ALL
    SELECT calls, matched, unmatched, answered, missed, voicemail, abandoned, live,
           talk_seconds, talked, recorded, new_callers
    FROM campaign_call_changes
    WHERE campaign_id = $1
      AND ($4::timestamptz IS NULL OR hour >= $4) AND ($5::timestamptz IS NULL OR hour < $5)
    UNION ALL
    SELECT x.* FROM edges e CROSS JOIN LATERAL (
        SELECT count(*), count(*) FILTER (WHERE match_status = 'matched'),
               count(*) FILTER (WHERE match_status = 'unmatched'),
               count(*) FILTER (WHERE call_outcome = 'answered'),
               count(*) FILTER (WHERE call_outcome = 'missed'),
               count(*) FILTER (WHERE call_outcome = 'voicemail'),
               count(*) FILTER (WHERE call_outcome = 'abandoned'),
               count(*) FILTER (WHERE call_outcome IS NULL),
               coalesce(sum(talk_seconds) FILTER (WHERE call_answered_at IS NOT NULL), 0),
               count(talk_seconds) FILTER (WHERE call_answered_at IS NOT NULL),
               count(*) FILTER (WHERE recording_sid IS NOT NULL), 0
        FROM call_sessions
        WHERE campaign_id = $1 AND created_at >= e.start AND created_at < e.stop
    ) x
), calls AS (
    SELECT sum(calls)::int8 AS total_calls, sum(matched)::int8 AS matched,
           sum(unmatched)::int8 AS unmatched, sum(answered)::int8 AS answered,
           sum(missed)::int8 AS missed, sum(voicemail)::int8 AS voicemail,
           sum(abandoned)::int8 AS abandoned, sum(live)::int8 AS live,
           (sum(talk_seconds)::numeric / nullif(sum(talked), 0)::numeric)::float8 AS avg_talk,
           sum(recorded)::int8 AS recorded, sum(new_callers)::int8 AS new_callers
    FROM parts
), unique_callers AS (
    -- Distinct callers by grouping, which may hash, not count(DISTINCT), which sorts.
    SELECT CASE
        -- Answered from the facts instead (see campaign_stats).
        WHEN (SELECT uncounted FROM counting) THEN 0
        WHEN $2::timestamptz IS NULL THEN
            (SELECT coalesce(new_callers, 0) FROM calls) + (
                SELECT count(*) FROM (
                    SELECT s.caller_phone
                    FROM call_sessions s
                    JOIN campaign_callers k
                      ON k.campaign_id = s.campaign_id AND k.caller_phone = s.caller_phone
                    WHERE s.campaign_id = $1 AND $3::timestamptz IS NOT NULL
                      AND s.created_at >= $5 AND s.created_at < $3 AND k.first_call_at >= $5
                    GROUP BY 1) d)
        -- Up to now (nothing at or after the end): the callers whose last call falls in
        -- the range, by the hour, plus those of the ragged first hour whose last call
        -- is in it.
        WHEN $3::timestamptz IS NULL OR NOT EXISTS (
            SELECT 1 FROM call_sessions WHERE campaign_id = $1 AND created_at >= $3) THEN
            (SELECT coalesce(sum(last_callers), 0)::int8 FROM (
                 SELECT last_callers FROM campaign_call_hours
                 WHERE campaign_id = $1 AND hour >= $4
                 UNION ALL
                 SELECT last_callers FROM campaign_call_changes
                 WHERE campaign_id = $1 AND hour >= $4) l) + (
                SELECT count(*) FROM (
                    SELECT s.caller_phone
                    FROM call_sessions s
                    JOIN campaign_callers k
                      ON k.campaign_id = s.campaign_id AND k.caller_phone = s.caller_phone
                    WHERE s.campaign_id = $1 AND s.created_at >= $2 AND s.created_at < $4
                      AND ($3::timestamptz IS NULL OR s.created_at < $3)
                      AND k.last_call_hour < $4
                    GROUP BY 1) d)
        ELSE (SELECT count(*) FROM (
                  SELECT caller_phone FROM call_sessions
                  WHERE campaign_id = $1 AND created_at >= $2
                    AND ($3::timestamptz IS NULL OR created_at < $3) AND caller_phone IS NOT NULL
                  GROUP BY 1) d)
        END AS n
), met_parts AS (
    SELECT condition_number, met, provisioned, delivered, failed, pending, no_phone
    FROM campaign_condition_totals
    WHERE campaign_id = $1 AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL
    UNION ALL
    SELECT condition_number, met, provisioned, delivered, failed, pending, no_phone
    FROM campaign_condition_hours
    WHERE campaign_id = $1 AND NOT ($4::timestamptz IS NULL AND $5::timestamptz IS NULL)
      AND ($4::timestamptz IS NULL OR hour >= $4) AND ($5::timestamptz IS NULL OR hour < $5)
    UNION ALL
    SELECT condition_number, met, provisioned, delivered, failed, pending, no_phone
    FROM campaign_condition_changes
    WHERE campaign_id = $1
      AND ($4::timestamptz IS NULL OR hour >= $4) AND ($5::timestamptz IS NULL OR hour < $5)
    UNION ALL
    SELECT m.* FROM edges e CROSS JOIN LATERAL (
        SELECT condition_number, 1,
               (reward_status = 'provisioned')::int,
               (delivery_status = 'delivered')::int,
               (delivery_status = 'failed')::int,
               (reward_status = 'pool_exhausted'
                OR (reward_status = 'provisioned' AND delivery_status IN ('pending', 'sent')))::int,
               (reward_status = 'no_phone')::int
        FROM call_conditions_met
        WHERE campaign_id = $1 AND met_at >= e.start AND met_at < e.stop
        -- A fence: pulled up into a join, the planner read every condition of the campaign
        -- and then looked for an edge, even with none.
        OFFSET 0
    ) m
), met AS (
    SELECT condition_number, sum(met)::int8 AS met, sum(provisioned)::int8 AS provisioned,
           sum(delivered)::int8 AS delivered, sum(failed)::int8 AS failed,
           sum(pending)::int8 AS pending, sum(no_phone)::int8 AS no_phone
    FROM met_parts
    GROUP BY condition_number
)
SELECT coalesce(calls.total_calls, 0) AS total_calls, unique_callers.n AS unique_callers,
       coalesce(calls.matched, 0) AS matched, coalesce(calls.unmatched, 0) AS unmatched,
       coalesce(calls.answered, 0) AS answered, coalesce(calls.missed, 0) AS missed,
       coalesce(calls.voicemail, 0) AS voicemail, coalesce(calls.abandoned, 0) AS abandoned,
       calls.avg_talk, coalesce(calls.recorded, 0) AS recorded,
       (SELECT coalesce(jsonb_object_agg(condition_number::text, met), '{}')
        FROM met WHERE met > 0) AS by_condition,
       (SELECT coalesce(sum(provisioned), 0)::int8 FROM met) AS provisioned,
       (SELECT coalesce(sum(delivered), 0)::int8 FROM met) AS delivered,
       (SELECT coalesce(sum(failed), 0)::int8 FROM met) AS failed,
       (SELECT coalesce(sum(pending), 0)::int8 FROM met) AS pending,
       (SELECT coalesce(sum(no_phone), 0)::int8 FROM met) AS no_phone,
       (SELECT uncounted FROM counting) AS uncounted
FROM calls, unique_callers
";

/// The statistics of `campaign_id` over `[from, to)` (either bound open).
pub async fn campaign_stats(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<CallStats> {
    let (first_hour, last_hour) = whole_hours(from, to);
    let row = tx
        .query_one(
            CALL_STATS,
            &[&campaign_id, &from, &to, &first_hour, &last_hour],
        )
        .await
        .context("reading call statistics failed")?;
    if row.get("uncounted") {
        return facts::campaign_stats(tx, campaign_id, from, to).await;
    }
    Ok(facts::call_stats_from_row(&row))
}

/// The series statement: $1 campaign, $2 and $3 the window (whole buckets, so whole hours),
/// $4 the bucket length as the text of an interval (tokio-postgres has no interval type), $5
/// `day` or `hour`, $6 the time zone buckets are cut in. Every count comes from the hourly
/// rollups and the pending changes; empty buckets from `generate_series`, whose step is a
/// fixed number of hours so the session's own `TimeZone` cannot move it.
pub const SERIES: &str = r"
WITH buckets AS (
    SELECT generate_series($2::timestamptz, $3::timestamptz - $4::text::interval, $4::text::interval) AS start
), calls AS (
    SELECT date_trunc($5::text, hour, $6::text) AS start,
           sum(calls)::int8 AS total_calls, sum(matched)::int8 AS matched,
           sum(unmatched)::int8 AS unmatched, sum(answered)::int8 AS answered,
           sum(missed)::int8 AS missed, sum(voicemail)::int8 AS voicemail,
           sum(abandoned)::int8 AS abandoned, sum(live)::int8 AS live
    FROM (SELECT hour, calls, matched, unmatched, answered, missed, voicemail, abandoned, live
          FROM campaign_call_hours
          WHERE campaign_id = $1 AND hour >= $2 AND hour < $3
          UNION ALL
          SELECT hour, calls, matched, unmatched, answered, missed, voicemail, abandoned, live
          FROM campaign_call_changes
          WHERE campaign_id = $1 AND hour >= $2 AND hour < $3) h
    GROUP BY 1
), met AS (
    SELECT date_trunc($5::text, hour, $6::text) AS start,
           sum(met)::int8 AS conditions_met, sum(provisioned)::int8 AS provisioned,
           sum(sent)::int8 AS sent, sum(delivered)::int8 AS delivered,
           sum(failed)::int8 AS failed
    FROM (SELECT hour, met, provisioned, sent, delivered, failed
          FROM campaign_condition_hours
          WHERE campaign_id = $1 AND hour >= $2 AND hour < $3
          UNION ALL
          SELECT hour, met, provisioned, sent, delivered, failed
          FROM campaign_condition_changes
          WHERE campaign_id = $1 AND hour >= $2 AND hour < $3) h
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

/// The campaign's counts per bucket of `window`, every bucket present (zeros included).
pub async fn campaign_series(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    window: &crate::domain::SeriesWindow,
) -> Result<Vec<SeriesPoint>> {
    if rollups::is_uncounted(tx, campaign_id).await? {
        return facts::campaign_series(tx, campaign_id, window).await;
    }
    facts::series_with(SERIES, tx, campaign_id, window).await
}

/// The campaigns statement: $1 the start of today, $2 of the week (both UTC hours), $3 one
/// campaign or all the caller sees, $4/$5 the keyset position (created_at, id), $6 the page
/// size plus one. The page is chosen first; only its campaigns' rollups are read: the totals
/// row, the hourly rows of the last week, the pending changes.
pub const CAMPAIGNS: &str = r"
WITH page AS (
    SELECT k.id, k.client_id, k.name, k.status::text AS status, k.mail_date,
           k.recording_retention_days, k.created_at
    FROM campaigns k
    WHERE k.deleted_at IS NULL
      AND ($3::uuid IS NULL OR k.id = $3)
      AND ($4::timestamptz IS NULL OR (k.created_at, k.id) < ($4, $5::uuid))
    ORDER BY k.created_at DESC, k.id DESC
    LIMIT $6
)
SELECT p.id, p.client_id, cl.name AS client_name, p.name, p.status, p.mail_date,
       p.recording_retention_days, p.created_at,
       s.total_calls, w.calls_today, w.calls_this_week, s.settled_calls, s.answered, s.matched,
       m.conditions_met, m.rewards_delivered,
       (SELECT count(*) FROM tracked_phone_numbers t
        WHERE t.campaign_id = p.id AND t.is_active) AS active_numbers,
       EXISTS (SELECT 1 FROM calltrack_rollup_fill f WHERE f.campaign_id = p.id) AS uncounted
FROM page p
JOIN clients cl ON cl.id = p.client_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(calls), 0)::int8 AS total_calls,
           coalesce(sum(calls - live), 0)::int8 AS settled_calls,
           coalesce(sum(answered), 0)::int8 AS answered,
           coalesce(sum(matched), 0)::int8 AS matched
    FROM (SELECT calls, live, answered, matched FROM campaign_call_totals WHERE campaign_id = p.id
          UNION ALL
          SELECT calls, live, answered, matched FROM campaign_call_changes WHERE campaign_id = p.id) t
) s
CROSS JOIN LATERAL (
    SELECT coalesce(sum(calls) FILTER (WHERE hour >= $1), 0)::int8 AS calls_today,
           coalesce(sum(calls), 0)::int8 AS calls_this_week
    FROM (SELECT hour, calls FROM campaign_call_hours WHERE campaign_id = p.id AND hour >= $2
          UNION ALL
          SELECT hour, calls FROM campaign_call_changes WHERE campaign_id = p.id AND hour >= $2) h
) w
CROSS JOIN LATERAL (
    SELECT coalesce(sum(met), 0)::int8 AS conditions_met,
           coalesce(sum(delivered), 0)::int8 AS rewards_delivered
    FROM (SELECT met, delivered FROM campaign_condition_totals WHERE campaign_id = p.id
          UNION ALL
          SELECT met, delivered FROM campaign_condition_changes WHERE campaign_id = p.id) c
) m
ORDER BY p.created_at DESC, p.id DESC
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
    let mut items = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        if row.get("uncounted") {
            let id: Uuid = row.get("id");
            let (counted, _) =
                facts::campaign_summaries(tx, today, week, Some(id), None, 1).await?;
            items.extend(counted);
        } else {
            items.push(facts::campaign_summary_from_row(row));
        }
    }
    Ok((items, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn the_whole_hours_of_a_range_start_at_or_after_its_start_and_end_at_or_before_its_end() {
        assert_eq!(
            whole_hours(
                Some(at("2026-03-08T10:20:00Z")),
                Some(at("2026-03-08T12:30:00Z"))
            ),
            (
                Some(at("2026-03-08T11:00:00Z")),
                Some(at("2026-03-08T12:00:00Z"))
            )
        );
        assert_eq!(
            whole_hours(Some(at("2026-03-08T10:00:00Z")), None),
            (Some(at("2026-03-08T10:00:00Z")), None)
        );
        assert_eq!(
            whole_hours(
                Some(at("2026-03-08T10:00:00.5Z")),
                Some(at("2026-03-08T10:40:00Z"))
            ),
            (
                Some(at("2026-03-08T11:00:00Z")),
                Some(at("2026-03-08T10:00:00Z"))
            )
        );
        assert_eq!(whole_hours(None, None), (None, None));
    }
}
