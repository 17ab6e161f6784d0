//! `call_sessions` and their `events`: the voice webhook's single statement and the
//! guarded one-statement updates that status, dial and recording callbacks make.

use super::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::domain::{CallSid, CallStatus, CallerId, DialOutcome, E164};

/// What the voice webhook needs to decide its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberLookup {
    /// The dialled number is not a tracked number.
    Unknown,
    /// Tracked, but switched off or released.
    Inactive,
    /// Tracked and active: the session exists (created now or by an earlier retry).
    Active {
        forward_to_number: String,
        session: Option<NewSession>,
    },
}

/// The session a voice webhook created; `None` in [`NumberLookup::Active`] means a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: Uuid,
    pub matched: bool,
}

/// The incoming call as the database needs it.
#[derive(Debug, Clone)]
pub struct IncomingCall<'a> {
    pub call_sid: &'a CallSid,
    pub to: &'a E164,
    pub caller: &'a CallerId,
    pub raw_from: &'a str,
    pub status: CallStatus,
    /// When the call began; `None` is now. A replayed or reconciled call carries the time
    /// Twilio first told of it, so its session and event are dated when the call happened.
    pub started_at: Option<DateTime<Utc>>,
}

/// One statement: finds the tracked number, matches the caller to the campaign's recipient by
/// normalised phone, inserts the session (once per CallSid) and its `call` event.
/// The match reads `recipients.phone_e164`, a generated column the database normalises, so
/// rows written by other systems in any format match through one index lookup.
const RECORD_INCOMING_CALL: &str = r"
WITH num AS (
    SELECT id, campaign_id, forward_to_number, is_active
    FROM tracked_phone_numbers
    WHERE phone_number = $1
    ORDER BY is_active DESC, created_at DESC
    LIMIT 1
), rec AS (
    SELECT r.id
    FROM recipients r JOIN num ON r.campaign_id = num.campaign_id
    WHERE num.is_active AND $2::text IS NOT NULL AND r.phone_e164 = $2::text
      AND r.deleted_at IS NULL
    ORDER BY r.created_at
    LIMIT 1
), ins AS (
    INSERT INTO call_sessions (campaign_id, tracked_number_id, recipient_id, caller_phone,
        match_status, call_status, status_rank, call_started_at, twilio_call_sid,
        forward_to_number)
    SELECT num.campaign_id, num.id, rec.id, $2::text,
        CASE WHEN rec.id IS NULL THEN 'unmatched' ELSE 'matched' END,
        $3::text, $4::smallint, COALESCE($7::timestamptz, now()), $5::text, num.forward_to_number
    FROM num LEFT JOIN rec ON true
    WHERE num.is_active
    ON CONFLICT (twilio_call_sid) DO NOTHING
    RETURNING id, campaign_id, recipient_id, match_status, tracked_number_id
), ev AS (
    INSERT INTO events (campaign_id, recipient_id, event_type, event_data, created_at)
    SELECT ins.campaign_id, ins.recipient_id, 'call', jsonb_build_object(
        'call_session_id', ins.id, 'call_sid', $5::text, 'tracked_number_id',
        ins.tracked_number_id, 'to', $1::text, 'from', $6::text, 'match_status', ins.match_status),
        COALESCE($7::timestamptz, now())
    FROM ins
)
SELECT num.is_active, num.forward_to_number, ins.id, ins.match_status
FROM num LEFT JOIN ins ON true
";

/// Records an incoming call; see [`RECORD_INCOMING_CALL`]. Safe under any number of
/// concurrent retries: the unique CallSid makes all but one a no-op.
#[tracing::instrument(skip_all, fields(call.sid = %call.call_sid))]
pub async fn record_incoming_call(
    client: &impl GenericClient,
    call: &IncomingCall<'_>,
) -> Result<NumberLookup> {
    let statement = client.prepare_cached(RECORD_INCOMING_CALL).await?;
    let caller = call.caller.number().map(E164::as_str);
    let row = client
        .query_opt(
            &statement,
            &[
                &call.to.as_str(),
                &caller,
                &call.status.as_str(),
                &call.status.rank().value(),
                &call.call_sid.as_str(),
                &call.raw_from,
                &call.started_at,
            ],
        )
        .await
        .context("recording the incoming call failed")?;
    let Some(row) = row else {
        return Ok(NumberLookup::Unknown);
    };
    if !row.get::<_, bool>(0) {
        return Ok(NumberLookup::Inactive);
    }
    let session = row.get::<_, Option<Uuid>>(2).map(|id| NewSession {
        id,
        matched: row.get::<_, Option<&str>>(3) == Some("matched"),
    });
    Ok(NumberLookup::Active {
        forward_to_number: row.get(1),
        session,
    })
}

/// Whether a session has `call_sid`.
pub async fn session_exists(client: &impl GenericClient, call_sid: &CallSid) -> Result<bool> {
    let statement = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM call_sessions WHERE twilio_call_sid = $1)")
        .await?;
    let row = client
        .query_one(&statement, &[&call_sid.as_str()])
        .await
        .context("looking for a call session failed")?;
    Ok(row.get(0))
}

/// What a status, dial or recording callback says about a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallProgress {
    pub status: Option<CallStatus>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub talk_seconds: Option<i32>,
}

/// Applies progress in one guarded statement. The status moves only to a higher rank, except
/// that a missed outcome (busy, no-answer, ...) of the forwarded leg may replace a parent's
/// `completed` while nobody has answered: the caller hung up on ringing, which is a miss.
/// Timestamps and durations are only ever filled in or extended, never cleared.
const APPLY_PROGRESS: &str = r"
UPDATE call_sessions SET
    call_status = CASE WHEN $2::text IS NOT NULL AND ($3::smallint > status_rank
            OR ($4 AND call_status = 'completed' AND call_answered_at IS NULL
                AND $5::timestamptz IS NULL))
        THEN $2::text ELSE call_status END,
    status_rank = GREATEST(status_rank, COALESCE($3::smallint, 0)),
    call_answered_at = COALESCE(call_answered_at, $5::timestamptz),
    call_ended_at = GREATEST(call_ended_at, $6::timestamptz),
    call_duration_seconds = GREATEST(call_duration_seconds, $7::integer),
    talk_seconds = GREATEST(talk_seconds, $8::integer)
WHERE twilio_call_sid = $1
";

/// Applies a callback's progress to the session of `call_sid`. Returns false when no session
/// has that CallSid (a callback for a call calltrack never saw).
#[tracing::instrument(skip_all, fields(call.sid = %call_sid))]
pub async fn apply_progress(
    client: &impl GenericClient,
    call_sid: &CallSid,
    progress: &CallProgress,
) -> Result<bool> {
    let statement = client.prepare_cached(APPLY_PROGRESS).await?;
    let updated = client
        .execute(
            &statement,
            &[
                &call_sid.as_str(),
                &progress.status.map(CallStatus::as_str),
                &progress.status.map(|s| s.rank().value()),
                &progress.status.is_some_and(CallStatus::is_missed),
                &progress.answered_at,
                &progress.ended_at,
                &progress.duration_seconds,
                &progress.talk_seconds,
            ],
        )
        .await
        .context("applying call progress failed")?;
    Ok(updated > 0)
}

impl CallProgress {
    /// The progress a `<Dial action>` reports: its outcome, and the talk time if answered.
    /// It carries no timestamp of its own, so it leaves the end of the call to the status
    /// callbacks, and its answer time (now less the talk time) only fills a gap.
    pub fn from_dial(outcome: &DialOutcome, now: DateTime<Utc>) -> Self {
        let answered = outcome.status == CallStatus::Completed;
        let talk = outcome.talk_seconds.filter(|_| answered);
        Self {
            status: Some(outcome.status),
            answered_at: talk.map(|s| now - chrono::Duration::seconds(i64::from(s))),
            ended_at: None,
            duration_seconds: None,
            talk_seconds: talk,
        }
    }
}

/// A finished recording of a session.
#[derive(Debug, Clone)]
pub struct Recording<'a> {
    pub sid: &'a str,
    pub url: &'a str,
    pub duration_seconds: Option<i32>,
    pub status: &'a str,
}

/// Stores the recording whenever it arrives, before or after the final status; a repeat of
/// the same callback changes nothing.
#[tracing::instrument(skip_all, fields(call.sid = %call_sid))]
pub async fn record_recording(
    client: &impl GenericClient,
    call_sid: &CallSid,
    recording: &Recording<'_>,
) -> Result<bool> {
    let updated = client
        .execute(
            "UPDATE call_sessions SET
                recording_sid = $2, recording_url = $3,
                recording_duration = COALESCE($4, recording_duration),
                recording_status = $5
             WHERE twilio_call_sid = $1
               AND (recording_sid IS NULL OR recording_sid = $2)",
            &[
                &call_sid.as_str(),
                &recording.sid,
                &recording.url,
                &recording.duration_seconds,
                &recording.status,
            ],
        )
        .await
        .context("storing the recording failed")?;
    Ok(updated > 0)
}
