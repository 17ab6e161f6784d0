//! `call_sessions` and their `events`: the voice webhook's single statement and the
//! guarded one-statement updates that status, dial and recording callbacks make.

use super::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::routing::RoutingVersion;
use crate::domain::{CallFlow, CallSid, CallStatus, CallerId, DialOutcome, E164};

/// What the voice webhook needs to decide its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberLookup {
    /// The dialled number is not a tracked number.
    Unknown,
    /// Tracked, but switched off or released.
    Inactive { routing_version: RoutingVersion },
    /// Tracked and active: the session exists (created now or by an earlier retry).
    Active {
        forward_to_number: String,
        flow: CallFlow,
        session: Option<NewSession>,
        /// The routing version the statement read with the number: the routing copy learns
        /// the route when it is newer than what the copy holds.
        routing_version: RoutingVersion,
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
    /// Twilio's `StirVerstat` for the caller ID.
    pub verstat: Option<&'a str>,
}

/// One statement: finds the tracked number, matches the caller to the campaign's recipient by
/// normalised phone, inserts the session (once per CallSid) and its `call` event.
/// The match reads `recipients.phone_e164`, a generated column the database normalises, so
/// rows written by other systems in any format match through one index lookup. It also
/// returns the routing version, read in the same snapshot as the number (a one-row table,
/// evaluated once per statement), so the routing copy can tell whether this answer is newer
/// than what it holds without a query of its own.
pub const RECORD_INCOMING_CALL: &str = r"
WITH num AS (
    SELECT id, campaign_id, forward_to_number, COALESCE(is_active, false) AS is_active, whisper, require_keypress,
        voicemail, voicemail_greeting, business_hours,
        NULLIF(btrim(whisper), '') IS NOT NULL AND COALESCE(require_keypress, true) AS screens
    FROM tracked_phone_numbers
    WHERE phone_number = $1
    ORDER BY is_active DESC NULLS LAST, created_at DESC
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
        forward_to_number, screened, caller_verstat)
    SELECT num.campaign_id, num.id, rec.id, $2::text,
        calltrack_as_match_status(CASE WHEN rec.id IS NULL THEN 'unmatched' ELSE 'matched' END),
        calltrack_as_call_status($3::text), $4::smallint, COALESCE($7::timestamptz, now()), $5::text, num.forward_to_number,
        num.screens, $8::text
    FROM num LEFT JOIN rec ON true
    WHERE num.is_active
    ON CONFLICT (twilio_call_sid) DO NOTHING
    RETURNING id, campaign_id, recipient_id, match_status::text AS match_status, tracked_number_id
), ev AS (
    INSERT INTO events (campaign_id, recipient_id, event_type, event_data, created_at)
    SELECT ins.campaign_id, ins.recipient_id, 'call', jsonb_build_object(
        'call_session_id', ins.id, 'call_sid', $5::text, 'tracked_number_id',
        ins.tracked_number_id, 'to', $1::text, 'from', $6::text, 'match_status', ins.match_status),
        COALESCE($7::timestamptz, now())
    FROM ins
)
SELECT num.is_active, num.forward_to_number, ins.id, ins.match_status, num.whisper,
    num.require_keypress, num.voicemail, num.voicemail_greeting, num.business_hours,
    (SELECT version FROM calltrack_routing_version)
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
                &call.verstat,
            ],
        )
        .await
        .context("recording the incoming call failed")?;
    let Some(row) = row else {
        return Ok(NumberLookup::Unknown);
    };
    let routing_version = RoutingVersion::new(row.get(9));
    if !row.get::<_, bool>(0) {
        return Ok(NumberLookup::Inactive { routing_version });
    }
    let session = row.get::<_, Option<Uuid>>(2).map(|id| NewSession {
        id,
        matched: row.get::<_, Option<&str>>(3) == Some("matched"),
    });
    Ok(NumberLookup::Active {
        forward_to_number: row.get(1),
        flow: CallFlow::from_columns(row.get(4), row.get(5), row.get(6), row.get(7), row.get(8)),
        session,
        routing_version,
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
    /// The forwarded leg picked up. For a screened call this is not yet a person: only
    /// `accepted_at` is.
    pub answered_at: Option<DateTime<Utc>>,
    /// A person at the business accepted a screened call with a key press.
    pub accepted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The whole call's duration (the parent's `CallDuration`).
    pub duration_seconds: Option<i32>,
    /// The forwarded leg's talk time (its `CallDuration`, or `DialCallDuration`).
    pub talk_seconds: Option<i32>,
    /// The forwarded leg's own status.
    pub leg_status: Option<CallStatus>,
}

/// Applies progress in one guarded statement. The status moves only to a higher rank, except
/// that a missed outcome (busy, no-answer, ...) of the forwarded leg may replace a parent's
/// `completed` while nobody has answered: the caller hung up on ringing, which is a miss.
/// The leg's status moves forward the same way. A screened session is answered only by the
/// key press. The duration is the longest any callback reported (the parent's is the longest
/// when known). Timestamps and durations are only ever filled in or extended, never cleared;
/// the `call_outcome` trigger settles the outcome from the result.
pub const APPLY_PROGRESS: &str = r"
UPDATE call_sessions SET
    call_status = CASE WHEN $2::text IS NOT NULL AND ($3::smallint > status_rank
            OR ($4 AND call_status = 'completed' AND call_answered_at IS NULL
                AND $5::timestamptz IS NULL))
        THEN calltrack_as_call_status($2::text) ELSE call_status END,
    status_rank = GREATEST(status_rank, COALESCE($3::smallint, 0)),
    leg_status = CASE WHEN calltrack_status_rank($9::text) > calltrack_status_rank(leg_status)
        THEN $9::text ELSE leg_status END,
    call_answered_at = COALESCE(call_answered_at,
        CASE WHEN screened THEN $10::timestamptz ELSE COALESCE($5::timestamptz, $10::timestamptz) END),
    call_ended_at = GREATEST(call_ended_at, $6::timestamptz),
    call_duration_seconds = GREATEST(call_duration_seconds, $7::integer, $8::integer),
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
                &progress.leg_status.map(CallStatus::as_str),
                &progress.accepted_at,
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
            talk_seconds: talk,
            leg_status: Some(outcome.status),
            ..Self::default()
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

/// Stores the message a caller left in calltrack's voicemail (which settles the call's
/// outcome as `voicemail`); a repeat of the same callback changes nothing.
#[tracing::instrument(skip_all, fields(call.sid = %call_sid))]
pub async fn record_voicemail(
    client: &impl GenericClient,
    call_sid: &CallSid,
    recording: &Recording<'_>,
) -> Result<bool> {
    let updated = client
        .execute(
            "UPDATE call_sessions SET
                voicemail_sid = $2, voicemail_url = $3,
                voicemail_duration = COALESCE($4, voicemail_duration)
             WHERE twilio_call_sid = $1
               AND (voicemail_sid IS NULL OR voicemail_sid = $2)",
            &[
                &call_sid.as_str(),
                &recording.sid,
                &recording.url,
                &recording.duration_seconds,
            ],
        )
        .await
        .context("storing the voicemail failed")?;
    Ok(updated > 0)
}

/// Whether a person accepted the session's call (for a screened call: pressed a key).
pub async fn was_answered(client: &impl GenericClient, call_sid: &CallSid) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT call_answered_at IS NOT NULL FROM call_sessions WHERE twilio_call_sid = $1",
            &[&call_sid.as_str()],
        )
        .await
        .context("reading whether the call was answered failed")?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// The voice webhook's statement for a whole batch of calls: the same lookups, match and
/// inserts as [`RECORD_INCOMING_CALL`], over arrays, so one prepared statement serves any
/// batch size and the batch pays for one statement and one commit. Rows are inserted in
/// CallSid order: two processes whose batches hold the same CallSids (retries landing on
/// two instances) then wait on each other's unique-index entries in one order, never in a
/// cycle. The CallSids of one batch must be distinct (the events join on them).
const RECORD_INCOMING_CALLS: &str = r"
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[],
        $6::text[], $7::timestamptz[], $8::text[])
        WITH ORDINALITY AS i(to_number, caller, status, rank, call_sid, raw_from, started_at,
            verstat, ord)
), num AS (
    SELECT i.ord, n.*
    FROM input i CROSS JOIN LATERAL (
        SELECT id, campaign_id, forward_to_number, COALESCE(is_active, false) AS is_active, whisper, require_keypress,
            voicemail, voicemail_greeting, business_hours,
            NULLIF(btrim(whisper), '') IS NOT NULL AND COALESCE(require_keypress, true) AS screens
        FROM tracked_phone_numbers
        WHERE phone_number = i.to_number
        ORDER BY is_active DESC NULLS LAST, created_at DESC
        LIMIT 1
    ) n
), ins AS (
    INSERT INTO call_sessions (campaign_id, tracked_number_id, recipient_id, caller_phone,
        match_status, call_status, status_rank, call_started_at, twilio_call_sid,
        forward_to_number, screened, caller_verstat)
    SELECT num.campaign_id, num.id, rec.id, i.caller,
        calltrack_as_match_status(CASE WHEN rec.id IS NULL THEN 'unmatched' ELSE 'matched' END),
        calltrack_as_call_status(i.status), i.rank, COALESCE(i.started_at, now()), i.call_sid, num.forward_to_number,
        num.screens, i.verstat
    FROM input i
    JOIN num ON num.ord = i.ord
    LEFT JOIN LATERAL (
        SELECT r.id
        FROM recipients r
        WHERE r.campaign_id = num.campaign_id AND i.caller IS NOT NULL
          AND r.phone_e164 = i.caller AND r.deleted_at IS NULL
        ORDER BY r.created_at
        LIMIT 1
    ) rec ON true
    WHERE num.is_active
    ORDER BY i.call_sid
    ON CONFLICT (twilio_call_sid) DO NOTHING
    RETURNING id, campaign_id, recipient_id, match_status::text AS match_status, tracked_number_id,
        twilio_call_sid
), ev AS (
    INSERT INTO events (campaign_id, recipient_id, event_type, event_data, created_at)
    SELECT ins.campaign_id, ins.recipient_id, 'call', jsonb_build_object(
        'call_session_id', ins.id, 'call_sid', i.call_sid, 'tracked_number_id',
        ins.tracked_number_id, 'to', i.to_number, 'from', i.raw_from, 'match_status',
        ins.match_status),
        COALESCE(i.started_at, now())
    FROM ins JOIN input i ON i.call_sid = ins.twilio_call_sid
)
SELECT i.ord, num.is_active, num.forward_to_number, ins.id, ins.match_status, num.whisper,
    num.require_keypress, num.voicemail, num.voicemail_greeting, num.business_hours,
    (SELECT version FROM calltrack_routing_version)
FROM input i
JOIN num ON num.ord = i.ord
LEFT JOIN ins ON ins.twilio_call_sid = i.call_sid
";

/// Prepares on this connection (once; then it is cached) the statement that records `calls`
/// incoming calls: [`record_incoming_call`]'s for one, [`record_incoming_calls`]'s for more,
/// so that the write can be pipelined ([`super::pipeline`]).
pub async fn prepare_incoming_calls(client: &impl GenericClient, calls: usize) -> Result<()> {
    let statement = if calls == 1 {
        RECORD_INCOMING_CALL
    } else {
        RECORD_INCOMING_CALLS
    };
    client.prepare_cached(statement).await?;
    Ok(())
}

/// Records a batch of incoming calls in one statement (one commit); see
/// [`RECORD_INCOMING_CALLS`]. Returns one lookup per call, in the order given. The CallSids
/// must be distinct: the caller folds retries of one call into one entry.
#[tracing::instrument(skip_all, fields(calls = calls.len()))]
pub async fn record_incoming_calls(
    client: &impl GenericClient,
    calls: &[IncomingCall<'_>],
) -> Result<Vec<NumberLookup>> {
    let statement = client.prepare_cached(RECORD_INCOMING_CALLS).await?;
    let to: Vec<&str> = calls.iter().map(|c| c.to.as_str()).collect();
    let caller: Vec<Option<&str>> = calls
        .iter()
        .map(|c| c.caller.number().map(E164::as_str))
        .collect();
    let status: Vec<&str> = calls.iter().map(|c| c.status.as_str()).collect();
    let rank: Vec<i16> = calls.iter().map(|c| c.status.rank().value()).collect();
    let call_sid: Vec<&str> = calls.iter().map(|c| c.call_sid.as_str()).collect();
    let raw_from: Vec<&str> = calls.iter().map(|c| c.raw_from).collect();
    let started_at: Vec<Option<DateTime<Utc>>> = calls.iter().map(|c| c.started_at).collect();
    let verstat: Vec<Option<&str>> = calls.iter().map(|c| c.verstat).collect();
    let rows = client
        .query(
            &statement,
            &[
                &to,
                &caller,
                &status,
                &rank,
                &call_sid,
                &raw_from,
                &started_at,
                &verstat,
            ],
        )
        .await
        .context("recording a batch of incoming calls failed")?;
    let mut lookups = vec![NumberLookup::Unknown; calls.len()];
    for row in rows {
        let slot = usize::try_from(row.get::<_, i64>(0))
            .ok()
            .and_then(|ord| ord.checked_sub(1))
            .and_then(|i| lookups.get_mut(i))
            .ok_or_else(|| {
                super::Error::invariant(
                    "a batch of calls answered for a call it was not given",
                    String::new(),
                )
            })?;
        let routing_version = RoutingVersion::new(row.get(10));
        *slot = if row.get::<_, bool>(1) {
            NumberLookup::Active {
                forward_to_number: row.get(2),
                flow: CallFlow::from_columns(
                    row.get(5),
                    row.get(6),
                    row.get(7),
                    row.get(8),
                    row.get(9),
                ),
                session: row.get::<_, Option<Uuid>>(3).map(|id| NewSession {
                    id,
                    matched: row.get::<_, Option<&str>>(4) == Some("matched"),
                }),
                routing_version,
            }
        } else {
            NumberLookup::Inactive { routing_version }
        };
    }
    Ok(lookups)
}

/// [`APPLY_PROGRESS`] for a batch of callbacks, one statement: the same guards, each row
/// against the session's latest version. Sessions are locked in CallSid order first, so two
/// processes' batches over the same sessions never wait on each other in a cycle. An
/// `UPDATE … FROM` applies at most one source row to a target row, so the CallSids of one
/// batch must be distinct (the caller splits repeats into successive batches).
const APPLY_PROGRESS_BATCH: &str = r"
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::boolean[],
        $5::timestamptz[], $6::timestamptz[], $7::integer[], $8::integer[], $9::text[],
        $10::timestamptz[])
        AS v(sid, status, rank, missed, answered_at, ended_at, duration, talk, leg_status,
            accepted_at)
), locked AS (
    SELECT c.id AS session_id, v.*
    FROM v JOIN call_sessions c ON c.twilio_call_sid = v.sid
    ORDER BY v.sid
    FOR UPDATE OF c
)
UPDATE call_sessions c SET
    call_status = CASE WHEN v.status IS NOT NULL AND (v.rank > c.status_rank
            OR (v.missed AND c.call_status = 'completed' AND c.call_answered_at IS NULL
                AND v.answered_at IS NULL))
        THEN calltrack_as_call_status(v.status) ELSE c.call_status END,
    status_rank = GREATEST(c.status_rank, COALESCE(v.rank, 0)),
    leg_status = CASE WHEN calltrack_status_rank(v.leg_status) > calltrack_status_rank(c.leg_status)
        THEN v.leg_status ELSE c.leg_status END,
    call_answered_at = COALESCE(c.call_answered_at,
        CASE WHEN c.screened THEN v.accepted_at ELSE COALESCE(v.answered_at, v.accepted_at) END),
    call_ended_at = GREATEST(c.call_ended_at, v.ended_at),
    call_duration_seconds = GREATEST(c.call_duration_seconds, v.duration, v.talk),
    talk_seconds = GREATEST(c.talk_seconds, v.talk)
FROM locked v
WHERE c.id = v.session_id
RETURNING v.sid
";

/// Applies the progress of a batch of callbacks (distinct CallSids) in one statement; see
/// [`APPLY_PROGRESS_BATCH`]. Returns, in the order given, whether each found its session.
#[tracing::instrument(skip_all, fields(callbacks = batch.len()))]
pub async fn apply_progress_batch(
    client: &impl GenericClient,
    batch: &[(&CallSid, &CallProgress)],
) -> Result<Vec<bool>> {
    let statement = client.prepare_cached(APPLY_PROGRESS_BATCH).await?;
    let sid: Vec<&str> = batch.iter().map(|(s, _)| s.as_str()).collect();
    let status: Vec<Option<&str>> = batch
        .iter()
        .map(|(_, p)| p.status.map(CallStatus::as_str))
        .collect();
    let rank: Vec<Option<i16>> = batch
        .iter()
        .map(|(_, p)| p.status.map(|s| s.rank().value()))
        .collect();
    let missed: Vec<bool> = batch
        .iter()
        .map(|(_, p)| p.status.is_some_and(CallStatus::is_missed))
        .collect();
    let answered_at: Vec<Option<DateTime<Utc>>> =
        batch.iter().map(|(_, p)| p.answered_at).collect();
    let ended_at: Vec<Option<DateTime<Utc>>> = batch.iter().map(|(_, p)| p.ended_at).collect();
    let duration: Vec<Option<i32>> = batch.iter().map(|(_, p)| p.duration_seconds).collect();
    let talk: Vec<Option<i32>> = batch.iter().map(|(_, p)| p.talk_seconds).collect();
    let leg_status: Vec<Option<&str>> = batch
        .iter()
        .map(|(_, p)| p.leg_status.map(CallStatus::as_str))
        .collect();
    let accepted_at: Vec<Option<DateTime<Utc>>> =
        batch.iter().map(|(_, p)| p.accepted_at).collect();
    let rows = client
        .query(
            &statement,
            &[
                &sid,
                &status,
                &rank,
                &missed,
                &answered_at,
                &ended_at,
                &duration,
                &talk,
                &leg_status,
                &accepted_at,
            ],
        )
        .await
        .context("applying a batch of call progress failed")?;
    let applied: std::collections::HashSet<&str> = rows.iter().map(|r| r.get(0)).collect();
    Ok(sid.iter().map(|s| applied.contains(s)).collect())
}

/// The recordings of a batch (distinct CallSids) as rows `v`, their sessions locked in
/// CallSid order, as progress locks them, so that concurrent batches never deadlock.
macro_rules! locked_recordings {
    () => {
        r"
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[])
        AS v(sid, recording_sid, url, duration, status)
), locked AS (
    SELECT c.id AS session_id, v.*
    FROM v JOIN call_sessions c ON c.twilio_call_sid = v.sid
    ORDER BY v.sid
    FOR UPDATE OF c
)
"
    };
}

/// Stores the recordings of a batch of callbacks in one statement, with
/// [`record_recording`]'s guard.
const RECORD_RECORDINGS_BATCH: &str = concat!(
    locked_recordings!(),
    r"
UPDATE call_sessions c SET
    recording_sid = v.recording_sid, recording_url = v.url,
    recording_duration = COALESCE(v.duration, c.recording_duration),
    recording_status = v.status
FROM locked v
WHERE c.id = v.session_id
  AND (c.recording_sid IS NULL OR c.recording_sid = v.recording_sid)
RETURNING v.sid
"
);

/// As [`RECORD_RECORDINGS_BATCH`], for voicemail messages ([`record_voicemail`]'s guard);
/// a message has no recording status column, so `status` is left unused.
const RECORD_VOICEMAILS_BATCH: &str = concat!(
    locked_recordings!(),
    r"
UPDATE call_sessions c SET
    voicemail_sid = v.recording_sid, voicemail_url = v.url,
    voicemail_duration = COALESCE(v.duration, c.voicemail_duration)
FROM locked v
WHERE c.id = v.session_id
  AND (c.voicemail_sid IS NULL OR c.voicemail_sid = v.recording_sid)
RETURNING v.sid
"
);

/// Stores a batch of call recordings (distinct CallSids) in one statement. Returns, in the
/// order given, whether each was stored, as [`record_recording`] would answer.
#[tracing::instrument(skip_all, fields(recordings = batch.len()))]
pub async fn record_recordings_batch(
    client: &impl GenericClient,
    batch: &[(&CallSid, Recording<'_>)],
) -> Result<Vec<bool>> {
    store_recordings_batch(client, RECORD_RECORDINGS_BATCH, batch)
        .await
        .context("storing a batch of recordings failed")
}

/// Stores a batch of voicemail messages (distinct CallSids) in one statement; see
/// [`record_recordings_batch`].
#[tracing::instrument(skip_all, fields(voicemails = batch.len()))]
pub async fn record_voicemails_batch(
    client: &impl GenericClient,
    batch: &[(&CallSid, Recording<'_>)],
) -> Result<Vec<bool>> {
    store_recordings_batch(client, RECORD_VOICEMAILS_BATCH, batch)
        .await
        .context("storing a batch of voicemails failed")
}

async fn store_recordings_batch(
    client: &impl GenericClient,
    statement: &str,
    batch: &[(&CallSid, Recording<'_>)],
) -> std::result::Result<Vec<bool>, tokio_postgres::Error> {
    let statement = client.prepare_cached(statement).await?;
    let sid: Vec<&str> = batch.iter().map(|(s, _)| s.as_str()).collect();
    let recording_sid: Vec<&str> = batch.iter().map(|(_, r)| r.sid).collect();
    let url: Vec<&str> = batch.iter().map(|(_, r)| r.url).collect();
    let duration: Vec<Option<i32>> = batch.iter().map(|(_, r)| r.duration_seconds).collect();
    let status: Vec<&str> = batch.iter().map(|(_, r)| r.status).collect();
    let rows = client
        .query(
            &statement,
            &[&sid, &recording_sid, &url, &duration, &status],
        )
        .await?;
    let stored: std::collections::HashSet<&str> = rows.iter().map(|r| r.get(0)).collect();
    Ok(sid.iter().map(|s| stored.contains(s)).collect())
}
