//! `sms_outbox`: claiming due reward SMS, and the guarded one-statement transitions that
//! record what Twilio said. Every transition names the state it leaves in its WHERE clause,
//! and the worker's ones also name the attempt it claimed, so a worker whose lease was taken
//! over can never overwrite the newer attempt's outcome.

use std::fmt;
use std::time::Duration;

use super::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::domain::{DeliveryReport, MessageSid, SMS_MAX_ATTEMPTS, sms_retry_delay};

/// A row claimed for sending, with everything its SMS needs.
#[derive(Debug)]
pub struct ClaimedSms {
    pub id: Uuid,
    pub condition_met_id: Uuid,
    pub to_phone: String,
    /// The attempt this claim is; it fences every later update of the row.
    pub attempt: i32,
    /// When the first attempt started: an earlier attempt's message is no older than this.
    pub sending_since: DateTime<Utc>,
    /// The row was taken over from an expired `sending` lease: an earlier attempt may have
    /// reached Twilio, so it must be reconciled before anything is sent.
    pub recovered: bool,
    /// `None` when the condition has no gift card (nothing to send).
    pub content: Option<StoredSmsContent>,
}

/// The reward as stored: the card's secrets are still ciphertext.
pub struct StoredSmsContent {
    pub sms_template: Option<String>,
    pub first_name: Option<String>,
    pub brand: Option<String>,
    /// The card's value as PostgreSQL prints a `numeric` (`25.00`).
    pub value: Option<String>,
    pub card_code_encrypted: String,
    pub pin_code_encrypted: Option<String>,
}

impl fmt::Debug for StoredSmsContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSmsContent")
            .field("brand", &self.brand)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

/// Claims up to `$1` due rows in one committed statement, before Twilio is called: pending
/// rows whose time has come, and `sending` rows whose lease expired (a worker died or lost
/// track mid-send). `due.state` is read before the update, so `recovered` says which is which.
const CLAIM_DUE: &str = r"
WITH due AS (
    SELECT id, state FROM sms_outbox
    WHERE (state = 'pending' AND next_attempt_at <= now())
       OR (state = 'sending' AND coalesce(lease_until, '-infinity') < now())
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE sms_outbox o SET
        state = 'sending',
        attempts = o.attempts + 1,
        lease_until = now() + make_interval(secs => $2),
        sending_since = coalesce(o.sending_since, now())
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.condition_met_id, o.to_phone, o.attempts, o.sending_since,
        due.state = 'sending' AS recovered
)
SELECT c.id, c.condition_met_id, c.to_phone, c.attempts, c.sending_since, c.recovered,
    g.id IS NOT NULL AS has_card, rc.sms_template, r.first_name, b.brand_name,
    coalesce(g.value_amount, p.value_amount, b.default_value)::text AS value,
    g.card_code, g.pin_code
FROM claimed c
JOIN call_conditions_met m ON m.id = c.condition_met_id
LEFT JOIN gift_cards g ON g.id = m.gift_card_id
LEFT JOIN gift_card_pools p ON p.id = g.pool_id
LEFT JOIN gift_card_brands b ON b.id = p.brand_id
LEFT JOIN recipients r ON r.id = m.recipient_id
LEFT JOIN campaign_reward_configs rc ON rc.id = m.reward_config_id
";

/// Claims up to `limit` due rows for `lease`; see [`CLAIM_DUE`]. Safe with any number of
/// workers: `SKIP LOCKED` hands each row to one of them.
#[tracing::instrument(skip_all)]
pub async fn claim_due(
    client: &impl GenericClient,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedSms>> {
    let statement = client.prepare_cached(CLAIM_DUE).await?;
    let rows = client
        .query(&statement, &[&limit, &lease.as_secs_f64()])
        .await
        .context("claiming due SMS failed")?;
    Ok(rows
        .iter()
        .map(|row| ClaimedSms {
            id: row.get("id"),
            condition_met_id: row.get("condition_met_id"),
            to_phone: row.get("to_phone"),
            attempt: row.get("attempts"),
            sending_since: row.get("sending_since"),
            recovered: row.get("recovered"),
            content: row.get::<_, bool>("has_card").then(|| StoredSmsContent {
                sms_template: row.get("sms_template"),
                first_name: row.get("first_name"),
                brand: row.get("brand_name"),
                value: row.get("value"),
                card_code_encrypted: row.get("card_code"),
                pin_code_encrypted: row.get("pin_code"),
            }),
        })
        .collect())
}

/// Twilio accepted the message: the row is `sent` with its SID, and the condition's
/// `delivery_status` becomes `sent` unless a status callback already said `delivered`.
const MARK_SENT: &str = r"
WITH o AS (
    UPDATE sms_outbox SET state = 'sent', message_sid = $3, sent_at = now(), lease_until = NULL,
        error_code = NULL, error_message = NULL
    WHERE id = $1 AND state = 'sending' AND attempts = $2
    RETURNING condition_met_id
), m AS (
    UPDATE call_conditions_met m SET delivery_status = 'sent',
        delivery_error_code = NULL, delivery_error_message = NULL
    FROM o
    WHERE m.id = o.condition_met_id AND m.delivery_status IS DISTINCT FROM 'delivered'
)
SELECT count(*) FROM o
";

/// Records that Twilio accepted attempt `attempt` of row `id` as `sid`. Returns false when
/// the row is no longer this attempt's (its lease was taken over).
#[tracing::instrument(skip_all, fields(outbox.id = %id, message.sid = %sid))]
pub async fn mark_sent(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    sid: &MessageSid,
) -> Result<bool> {
    let statement = client.prepare_cached(MARK_SENT).await?;
    let row = client
        .query_one(&statement, &[&id, &attempt, &sid.as_str()])
        .await
        .context("marking the SMS sent failed")?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Why an attempt did not succeed, for the row and (when final) the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub code: Option<i32>,
    pub message: String,
}

/// Puts the row back for another attempt after `delay`. With `recheck`, the row stays
/// `sending` with its lease ending then, so the next claim sees it as recovered and
/// reconciles first: used when an earlier attempt may have reached Twilio.
const SCHEDULE_RETRY: &str = r"
UPDATE sms_outbox SET
    state = CASE WHEN $3 THEN 'sending' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $4),
    lease_until = CASE WHEN $3 THEN now() + make_interval(secs => $4) END,
    error_code = $5, error_message = $6
WHERE id = $1 AND state = 'sending' AND attempts = $2
";

/// Schedules another attempt of row `id`; see [`SCHEDULE_RETRY`]. Returns false when the
/// row is no longer this attempt's.
#[tracing::instrument(skip_all, fields(outbox.id = %id))]
pub async fn schedule_retry(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    delay: Duration,
    recheck: bool,
    error: &AttemptError,
) -> Result<bool> {
    let statement = client.prepare_cached(SCHEDULE_RETRY).await?;
    let updated = client
        .execute(
            &statement,
            &[
                &id,
                &attempt,
                &recheck,
                &delay.as_secs_f64(),
                &error.code,
                &error.message,
            ],
        )
        .await
        .context("scheduling an SMS retry failed")?;
    Ok(updated > 0)
}

/// The row failed for good, and so did the condition's delivery (unless it was delivered).
const MARK_FAILED: &str = r"
WITH o AS (
    UPDATE sms_outbox SET state = 'failed', lease_until = NULL, error_code = $3, error_message = $4
    WHERE id = $1 AND state = 'sending' AND attempts = $2
    RETURNING condition_met_id
), m AS (
    UPDATE call_conditions_met m SET delivery_status = 'failed',
        delivery_error_code = $3, delivery_error_message = $4
    FROM o
    WHERE m.id = o.condition_met_id AND m.delivery_status IS DISTINCT FROM 'delivered'
)
SELECT count(*) FROM o
";

/// Records a permanent failure of attempt `attempt` of row `id`. Returns false when the row
/// is no longer this attempt's.
#[tracing::instrument(skip_all, fields(outbox.id = %id, error.code = ?error.code))]
pub async fn mark_failed(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    error: &AttemptError,
) -> Result<bool> {
    let statement = client.prepare_cached(MARK_FAILED).await?;
    let row = client
        .query_one(&statement, &[&id, &attempt, &error.code, &error.message])
        .await
        .context("marking the SMS failed failed")?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// What a delivery report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The delivery moved (to `delivered`, `failed`, or from `pending` to `sent`).
    Applied,
    /// The report was stale or repeated; nothing changed.
    Unchanged,
    /// No reward SMS has this SID.
    UnknownMessage,
}

/// `delivered`: the outbox row, the condition and the gift card are delivered, and the pool
/// counts one more delivered card. Only the first report passes the state guard on
/// `sms_outbox`, so a repeated or concurrent report changes nothing and counts nothing.
/// A delivery report after a `failed` one wins: the handset has the code.
const APPLY_DELIVERED: &str = r"
WITH o AS (
    UPDATE sms_outbox SET state = 'delivered', lease_until = NULL
    WHERE message_sid = $1 AND state IN ('sending', 'sent', 'failed')
    RETURNING condition_met_id, to_phone
), m AS (
    UPDATE call_conditions_met m SET delivery_status = 'delivered',
        delivery_error_code = NULL, delivery_error_message = NULL
    FROM o
    WHERE m.id = o.condition_met_id
    RETURNING m.gift_card_id, o.to_phone
), g AS (
    UPDATE gift_cards g SET status = 'delivered', delivered_at = now(),
        delivery_method = 'sms', delivery_address = m.to_phone
    FROM m
    WHERE g.id = m.gift_card_id AND g.delivered_at IS NULL
      AND g.status NOT IN ('delivered', 'redeemed')
    RETURNING g.pool_id
), p AS (
    UPDATE gift_card_pools p SET delivered_cards = p.delivered_cards + 1
    FROM g
    WHERE p.id = g.pool_id
)
SELECT (SELECT count(*) FROM o), EXISTS (SELECT 1 FROM sms_outbox WHERE message_sid = $1)
";

/// `failed` / `undelivered` with a transient code (a queue overflow, an unknown carrier
/// error): the message is gone for good, so the reward goes back to `pending` for a new
/// message after the back-off of the attempts made so far (`$4`: the wait after attempt n is
/// `$4[n]`; one entry per allowed attempt). Only a `sent` row qualifies: one in `sending` is a
/// worker's right now. The SID is let go, so the next attempt's reconciliation starts afresh
/// (and skips this failed message; see `workers::outbox`). Out of attempts, nothing changes
/// here and the report is applied as a plain failure.
const APPLY_RETRY: &str = r"
WITH o AS (
    UPDATE sms_outbox SET state = 'pending', message_sid = NULL, sent_at = NULL,
        sending_since = NULL, lease_until = NULL,
        next_attempt_at = now() + make_interval(secs => ($4::float8[])[attempts]),
        error_code = $2, error_message = $3
    WHERE message_sid = $1 AND state = 'sent' AND attempts < cardinality($4::float8[])
    RETURNING condition_met_id
), m AS (
    UPDATE call_conditions_met m SET delivery_status = 'pending',
        delivery_error_code = $2, delivery_error_message = $3
    FROM o
    WHERE m.id = o.condition_met_id AND m.delivery_status IS DISTINCT FROM 'delivered'
)
SELECT (SELECT count(*) FROM o), EXISTS (SELECT 1 FROM sms_outbox WHERE message_sid = $1)
";

/// `failed` / `undelivered`: never overrides a delivery.
const APPLY_FAILED: &str = r"
WITH o AS (
    UPDATE sms_outbox SET state = 'failed', lease_until = NULL, error_code = $2, error_message = $3
    WHERE message_sid = $1 AND state IN ('sending', 'sent')
    RETURNING condition_met_id
), m AS (
    UPDATE call_conditions_met m SET delivery_status = 'failed',
        delivery_error_code = $2, delivery_error_message = $3
    FROM o
    WHERE m.id = o.condition_met_id AND m.delivery_status IS DISTINCT FROM 'delivered'
)
SELECT (SELECT count(*) FROM o), EXISTS (SELECT 1 FROM sms_outbox WHERE message_sid = $1)
";

/// `queued` / `sending` / `sent`: at most moves a still-pending condition to `sent`.
const APPLY_IN_FLIGHT: &str = r"
WITH m AS (
    UPDATE call_conditions_met m SET delivery_status = 'sent'
    FROM sms_outbox o
    WHERE o.message_sid = $1 AND o.state IN ('sending', 'sent')
      AND m.id = o.condition_met_id AND m.delivery_status = 'pending'
    RETURNING m.id
)
SELECT (SELECT count(*) FROM m), EXISTS (SELECT 1 FROM sms_outbox WHERE message_sid = $1)
";

const MESSAGE_EXISTS: &str =
    "SELECT 0::bigint, EXISTS (SELECT 1 FROM sms_outbox WHERE message_sid = $1)";

/// The wait after each allowed attempt, in seconds: entry n-1 follows attempt n.
fn retry_schedule() -> Vec<f64> {
    (1..=SMS_MAX_ATTEMPTS)
        .map(|attempt| sms_retry_delay(attempt).as_secs_f64())
        .collect()
}

/// Applies a delivery report for the message `sid` in one statement. Late and repeated
/// reports are harmless: `sent` never moves a delivered or failed row back, and a repeated
/// `delivered` counts the card once. A transient failure queues the reward for a new message
/// (see [`APPLY_RETRY`]); out of attempts, it fails it like any other failure.
#[tracing::instrument(skip_all, fields(message.sid = %sid))]
pub async fn apply_report(
    client: &impl GenericClient,
    sid: &MessageSid,
    report: &DeliveryReport,
) -> Result<ReportOutcome> {
    if report.is_transient_failure()
        && let DeliveryReport::Failed { error_code, .. } = report
    {
        let statement = client.prepare_cached(APPLY_RETRY).await?;
        let message = report
            .failure_message()
            .map(|m| format!("{m}; sending it again"));
        let row = client
            .query_one(
                &statement,
                &[&sid.as_str(), error_code, &message, &retry_schedule()],
            )
            .await
            .context("queueing an SMS again after a transient failure failed")?;
        if row.get::<_, i64>(0) > 0 {
            tracing::info!(error.code = ?error_code, "the SMS failed transiently; queued again");
            return Ok(ReportOutcome::Applied);
        }
    }
    let row = match report {
        DeliveryReport::Delivered => {
            let statement = client.prepare_cached(APPLY_DELIVERED).await?;
            client.query_one(&statement, &[&sid.as_str()]).await
        }
        DeliveryReport::Failed {
            error_code,
            transient,
            ..
        } => {
            let statement = client.prepare_cached(APPLY_FAILED).await?;
            // A transient failure lands here only when the reward is out of attempts.
            let message = report.failure_message().map(|m| match transient {
                true => format!("gave up after {SMS_MAX_ATTEMPTS} attempts: {m}"),
                false => m,
            });
            client
                .query_one(&statement, &[&sid.as_str(), error_code, &message])
                .await
        }
        DeliveryReport::InFlight => {
            let statement = client.prepare_cached(APPLY_IN_FLIGHT).await?;
            client.query_one(&statement, &[&sid.as_str()]).await
        }
        DeliveryReport::Other => {
            let statement = client.prepare_cached(MESSAGE_EXISTS).await?;
            client.query_one(&statement, &[&sid.as_str()]).await
        }
    }
    .context("applying an SMS delivery report failed")?;
    Ok(match (row.get::<_, i64>(0) > 0, row.get::<_, bool>(1)) {
        (true, _) => ReportOutcome::Applied,
        (false, true) => ReportOutcome::Unchanged,
        (false, false) => ReportOutcome::UnknownMessage,
    })
}

/// Keeps a final report for a message SID no outbox row has yet; a delivery beats a failure
/// when both arrive. Reports parked for over a day are dropped on the way.
#[tracing::instrument(skip_all, fields(message.sid = %sid))]
pub async fn park_report(
    client: &impl GenericClient,
    sid: &MessageSid,
    report: &DeliveryReport,
) -> Result<()> {
    let Some((kind, error_code)) = report.parked_form() else {
        return Ok(());
    };
    client
        .execute(
            "WITH expired AS (
                 DELETE FROM sms_status_parked WHERE received_at < now() - interval '1 day'
             )
             INSERT INTO sms_status_parked (message_sid, kind, error_code) VALUES ($1, $2, $3)
             ON CONFLICT (message_sid) DO UPDATE
             SET kind = CASE WHEN sms_status_parked.kind = 'delivered' THEN 'delivered' ELSE EXCLUDED.kind END,
                 error_code = CASE WHEN sms_status_parked.kind = 'delivered' THEN NULL ELSE EXCLUDED.error_code END",
            &[&sid.as_str(), &kind, &error_code],
        )
        .await
        .context("parking an early SMS status report failed")?;
    Ok(())
}

/// A report parked for a message SID, as stored: `kind` is `delivered`, `failed` or
/// `undelivered`. What its code means is for the caller (`twilio::payloads::parked_report`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedReport {
    pub kind: String,
    pub error_code: Option<i32>,
}

/// Removes and returns the report parked for `sid`, if any.
pub async fn take_parked(
    client: &impl GenericClient,
    sid: &MessageSid,
) -> Result<Option<ParkedReport>> {
    let row = client
        .query_opt(
            "DELETE FROM sms_status_parked WHERE message_sid = $1 RETURNING kind, error_code",
            &[&sid.as_str()],
        )
        .await
        .context("taking a parked SMS status report failed")?;
    Ok(row.map(|r| ParkedReport {
        kind: r.get(0),
        error_code: r.get(1),
    }))
}
