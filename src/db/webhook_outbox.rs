//! The webhook delivery worker's SQL: claiming due messages of `webhook_messages` (V16) and
//! recording each attempt with its outcome. Any number of workers may run against one
//! database: claims use `SKIP LOCKED` and a lease, and every outcome is fenced by the claim.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Context as _, Result};

/// A message claimed for one attempt, with what its endpoint needs to receive it.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: String,
    pub endpoint_id: Uuid,
    /// The whole body, sent as its one serialisation.
    pub payload: Value,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The claim's end; every outcome is recorded only while the claim is still this one.
    pub claimed_until: DateTime<Utc>,
    pub url: String,
    /// The endpoint's secret as stored (encrypted).
    pub secret_encrypted: String,
    /// The secret before the last rotation, while it still signs (encrypted).
    pub previous_secret_encrypted: Option<String>,
}

/// Claims up to `limit` due messages of enabled endpoints, oldest due first, for `lease`.
/// A disabled endpoint's messages stay `pending` and are not claimed: re-enabling the
/// endpoint sends them.
const CLAIM_DUE: &str = r"
WITH due AS (
    SELECT m.id
    FROM webhook_messages m
    JOIN webhook_endpoints e ON e.id = m.endpoint_id
    WHERE m.status = 'pending' AND m.next_attempt_at <= now()
      AND (m.claimed_until IS NULL OR m.claimed_until < now())
      AND e.enabled
    ORDER BY m.next_attempt_at
    LIMIT $1
    FOR UPDATE OF m SKIP LOCKED
), claimed AS (
    UPDATE webhook_messages m
    SET claimed_until = now() + make_interval(secs => $2::double precision)
    FROM due
    WHERE m.id = due.id
    RETURNING m.id, m.endpoint_id, m.payload, m.attempts, m.claimed_until
)
SELECT c.id, c.endpoint_id, c.payload, c.attempts, c.claimed_until, e.url, e.secret,
    CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret
FROM claimed c
JOIN webhook_endpoints e ON e.id = c.endpoint_id
ORDER BY c.id";

/// Claims up to `limit` due messages for `lease`.
#[tracing::instrument(skip_all)]
pub async fn claim_due(
    client: &impl GenericClient,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedMessage>> {
    let statement = client.prepare_cached(CLAIM_DUE).await?;
    let rows = client
        .query(&statement, &[&limit, &lease.as_secs_f64()])
        .await
        .context("claiming due webhook messages failed")?;
    Ok(rows
        .iter()
        .map(|row| ClaimedMessage {
            id: row.get("id"),
            endpoint_id: row.get("endpoint_id"),
            payload: row.get("payload"),
            attempts: row.get("attempts"),
            claimed_until: row.get("claimed_until"),
            url: row.get("url"),
            secret_encrypted: row.get("secret"),
            previous_secret_encrypted: row.get("previous_secret"),
        })
        .collect())
}

/// What an attempt leaves the message as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// A `2xx`: `delivered`.
    Delivered,
    /// Tried again after this pause.
    RetryAfter(Duration),
    /// The schedule is exhausted: `failed`.
    Failed,
    /// A `410`: the message `failed` and its endpoint disabled with this reason.
    Gone { reason: &'static str },
}

/// One attempt as recorded in `webhook_attempts`.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<&'a str>,
}

/// Records one attempt and the message's next state in one statement, only while the
/// message's claim is still `message.claimed_until` (a claim that outlived its lease was
/// taken over, and its outcome is dropped). Returns whether it was recorded.
const RECORD: &str = r"
WITH m AS (
    UPDATE webhook_messages
    SET attempts = attempts + 1,
        claimed_until = NULL,
        status = $4,
        delivered_at = CASE WHEN $4 = 'delivered' THEN now() END,
        next_attempt_at = CASE WHEN $5::double precision IS NULL THEN next_attempt_at
                               ELSE now() + make_interval(secs => $5::double precision) END
    WHERE id = $1 AND status = 'pending' AND claimed_until = $2 AND attempts = $3
    RETURNING id, endpoint_id
), a AS (
    INSERT INTO webhook_attempts (message_id, status_code, duration_ms, error)
    SELECT m.id, $6, $7, $8 FROM m
    RETURNING message_id
), e AS (
    UPDATE webhook_endpoints
    SET enabled = false, disabled_reason = $9
    WHERE $9::text IS NOT NULL AND id IN (SELECT endpoint_id FROM m)
    RETURNING id
)
SELECT (SELECT count(*) FROM a) AS recorded";

/// Records `attempt` on `message` and moves it on as `next` says.
#[tracing::instrument(skip_all, fields(webhook.id = %message.id))]
pub async fn record_attempt(
    client: &impl GenericClient,
    message: &ClaimedMessage,
    attempt: &AttemptRecord<'_>,
    next: Next,
) -> Result<bool> {
    let (status, retry_after, disabled_reason) = match next {
        Next::Delivered => ("delivered", None, None),
        Next::RetryAfter(pause) => ("pending", Some(pause.as_secs_f64()), None),
        Next::Failed => ("failed", None, None),
        Next::Gone { reason } => ("failed", None, Some(reason)),
    };
    let statement = client.prepare_cached(RECORD).await?;
    let row = client
        .query_one(
            &statement,
            &[
                &message.id,
                &message.claimed_until,
                &message.attempts,
                &status,
                &retry_after,
                &attempt.status_code,
                &attempt.duration_ms,
                &attempt.error,
                &disabled_reason,
            ],
        )
        .await
        .context("recording a webhook attempt failed")?;
    Ok(row.get::<_, i64>("recorded") == 1)
}

/// Messages waiting to be delivered (`pending`), for the metrics.
pub async fn pending_count(client: &impl GenericClient) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT count(*) FROM webhook_messages WHERE status = 'pending'",
            &[],
        )
        .await
        .context("counting pending webhook messages failed")?;
    Ok(row.get(0))
}
