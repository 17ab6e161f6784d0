//! The webhooks' shared write path: how a call and each callback about it are applied to the
//! database, with the guards of live traffic. Live writes (through [`super::group_commit`] or
//! one at a time) and spool replay ([`super::replay`]) all run these functions, so a replayed
//! webhook meets the same guards as a live one.
//!
//! A callback whose session does not exist yet is parked, and looked for again after parking:
//! either that second look sees the session, or whoever creates the session finds the parked
//! row ([`apply_parked`]).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use crate::db;
use crate::db::calls::{self, CallProgress, IncomingCall, NumberLookup, Recording};
use crate::db::outbox::{self, ReportOutcome};
use crate::db::parked::{self, ParkedCallback};
use crate::domain::{CallSid, CallStatus};
use crate::spool::RecordKind;
use crate::twilio::payloads::{
    DialAction, RecordingCallback, ScreenAccept, SmsStatusCallback, StatusCallback, VoiceRequest,
};

/// Where a webhook's write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Applied to its session (or, for a call, the session was created or already there).
    Applied,
    /// Its session does not exist yet; parked until it does.
    Parked,
    /// The database did not take it in time; it is in the spool.
    Spooled,
    /// An SMS report for a message calltrack has not stored; parked for the outbox worker.
    UnknownMessage,
}

/// A callback about a call or a reward SMS, parsed.
#[derive(Debug, Clone)]
pub enum Callback {
    Status(StatusCallback),
    Dial(DialAction),
    Recording(RecordingCallback),
    SmsStatus(SmsStatusCallback),
    ScreenAccept(ScreenAccept),
    Voicemail(RecordingCallback),
}

impl Callback {
    /// The CallSid of the session a call callback is about; `None` for an SMS report.
    pub(super) fn call_sid(&self) -> Option<&CallSid> {
        match self {
            Self::Status(status) => Some(status.session_call_sid()),
            Self::Dial(dial) => Some(&dial.call_sid),
            Self::Recording(recording) | Self::Voicemail(recording) => Some(&recording.call_sid),
            Self::ScreenAccept(accept) => Some(&accept.parent_call_sid),
            Self::SmsStatus(_) => None,
        }
    }

    /// The kind of spool record the callback is kept as.
    pub(super) fn kind(&self) -> RecordKind {
        match self {
            Self::Status(_) => RecordKind::Status,
            Self::Dial(_) => RecordKind::Dial,
            Self::Recording(_) => RecordKind::Recording,
            Self::SmsStatus(_) => RecordKind::SmsStatus,
            Self::ScreenAccept(_) => RecordKind::ScreenAccept,
            Self::Voicemail(_) => RecordKind::Voicemail,
        }
    }
}

/// Records an incoming call (at `started_at`, or now) and applies whatever callbacks were
/// parked waiting for its session.
pub async fn record_call(
    client: &mut impl GenericClient,
    voice: &VoiceRequest,
    started_at: Option<DateTime<Utc>>,
) -> db::Result<NumberLookup> {
    let Some(to) = voice.to.as_ref().filter(|_| voice.inbound) else {
        return Ok(NumberLookup::Unknown);
    };
    let call = IncomingCall {
        call_sid: &voice.call_sid,
        to,
        caller: &voice.caller,
        raw_from: &voice.raw_from,
        status: voice.status,
        started_at,
        verstat: voice.verstat.as_deref(),
    };
    let lookup = calls::record_incoming_call(&*client, &call).await?;
    if let NumberLookup::Active {
        session: Some(_), ..
    } = &lookup
    {
        apply_parked(client, &voice.call_sid).await?;
    }
    Ok(lookup)
}

/// Applies the callbacks parked for a session that now exists and removes them, in one
/// transaction (a savepoint inside a caller's): whoever sees their effect on the session sees
/// them gone, and a failure (a deadline, a lost connection) leaves them parked, unapplied, for
/// the next look. Applying one again changes nothing.
pub async fn apply_parked(
    client: &mut impl GenericClient,
    call_sid: &CallSid,
) -> db::Result<usize> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| db::Error::from_driver("starting to apply parked callbacks failed", e))?;
    let waiting = parked::waiting(&tx, call_sid).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    for (_, callback) in &waiting {
        match callback {
            ParkedCallback::Progress(progress) => {
                calls::apply_progress(&tx, call_sid, progress).await?;
            }
            ParkedCallback::Recording(recording) => {
                calls::record_recording(&tx, call_sid, &recording.as_recording()).await?;
            }
            ParkedCallback::Voicemail(recording) => {
                calls::record_voicemail(&tx, call_sid, &recording.as_recording()).await?;
            }
        }
    }
    let ids: Vec<i64> = waiting.iter().map(|(id, _)| *id).collect();
    parked::remove(&tx, &ids).await?;
    tx.commit()
        .await
        .map_err(|e| db::Error::from_driver("committing parked callbacks failed", e))?;
    tracing::info!(
        parked = waiting.len(),
        "callbacks that arrived before the session applied"
    );
    Ok(waiting.len())
}

/// Applies one callback received at `received_at`, with the guards of live traffic.
pub async fn apply_callback(
    client: &impl GenericClient,
    callback: &Callback,
    received_at: DateTime<Utc>,
) -> db::Result<Written> {
    if let Some((call_sid, progress)) = progress_of(callback, received_at) {
        return apply_or_park_progress(client, call_sid, &progress).await;
    }
    match callback {
        Callback::Recording(callback) => {
            apply_or_park_recording(client, callback, Stored::CallRecording).await
        }
        Callback::SmsStatus(callback) => apply_sms_report(client, callback).await,
        Callback::Voicemail(callback) => {
            apply_or_park_recording(client, callback, Stored::Voicemail).await
        }
        // Progress, applied above; or a screening nobody accepted, which changes nothing.
        Callback::Status(_) | Callback::Dial(_) | Callback::ScreenAccept(_) => Ok(Written::Applied),
    }
}

/// The progress a status, dial or accepted screening callback reports about its session;
/// `None` for the other callbacks (and a screening nobody accepted).
pub(super) fn progress_of(
    callback: &Callback,
    received_at: DateTime<Utc>,
) -> Option<(&CallSid, CallProgress)> {
    match callback {
        Callback::Status(status) => Some((
            status.session_call_sid(),
            progress_of_status(status, received_at),
        )),
        Callback::Dial(dial) => Some((
            &dial.call_sid,
            CallProgress::from_dial(&dial.outcome, received_at),
        )),
        Callback::ScreenAccept(accept) if accept.accepted => Some((
            &accept.parent_call_sid,
            CallProgress {
                accepted_at: Some(received_at),
                ..CallProgress::default()
            },
        )),
        _ => None,
    }
}

/// Which recording of a call a recording callback is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    /// The forwarded call's dual-channel recording.
    CallRecording,
    /// The message left in calltrack's voicemail.
    Voicemail,
}

impl Stored {
    pub(super) async fn store(
        self,
        client: &impl GenericClient,
        sid: &CallSid,
        recording: &Recording<'_>,
    ) -> db::Result<bool> {
        match self {
            Self::CallRecording => calls::record_recording(client, sid, recording).await,
            Self::Voicemail => calls::record_voicemail(client, sid, recording).await,
        }
    }

    /// Stores the recordings of distinct calls in one statement; whether each was stored.
    pub(super) async fn store_batch(
        self,
        client: &impl GenericClient,
        batch: &[(&CallSid, Recording<'_>)],
    ) -> db::Result<Vec<bool>> {
        match self {
            Self::CallRecording => calls::record_recordings_batch(client, batch).await,
            Self::Voicemail => calls::record_voicemails_batch(client, batch).await,
        }
    }

    async fn park(
        self,
        client: &impl GenericClient,
        sid: &CallSid,
        recording: &Recording<'_>,
    ) -> db::Result<i64> {
        match self {
            Self::CallRecording => parked::park_recording(client, sid, recording).await,
            Self::Voicemail => parked::park_voicemail(client, sid, recording).await,
        }
    }

    /// Parks a recording whose session was not there (or holds another recording), then
    /// tries once more, as [`park_and_look_again`] does for progress.
    pub(super) async fn park_and_store_again(
        self,
        client: &impl GenericClient,
        sid: &CallSid,
        recording: &Recording<'_>,
    ) -> db::Result<Written> {
        let id = self.park(client, sid, recording).await?;
        if self.store(client, sid, recording).await? {
            parked::unpark(client, id).await?;
            return Ok(Written::Applied);
        }
        Ok(Written::Parked)
    }
}

/// The recording callback `callback` is, and which recording it is about; `None` for the
/// other callbacks.
pub(super) fn recording_of(callback: &Callback) -> Option<(&RecordingCallback, Stored)> {
    match callback {
        Callback::Recording(callback) => Some((callback, Stored::CallRecording)),
        Callback::Voicemail(callback) => Some((callback, Stored::Voicemail)),
        _ => None,
    }
}

/// The finished recording a callback reports; `None` for one that is `absent` or `failed`,
/// which changes nothing.
pub(super) fn completed_recording(callback: &RecordingCallback) -> Option<Recording<'_>> {
    let Some(url) = callback.completed_url() else {
        tracing::info!(recording.status = %callback.status, "recording not completed; nothing stored");
        return None;
    };
    Some(Recording {
        sid: &callback.recording_sid,
        url,
        duration_seconds: callback.duration_seconds,
        status: &callback.status,
    })
}

/// Stores a finished recording on its session, or parks it (the same look-again rule as
/// progress); one that is `absent` or `failed` changes nothing.
async fn apply_or_park_recording(
    client: &impl GenericClient,
    callback: &RecordingCallback,
    stored: Stored,
) -> db::Result<Written> {
    let Some(recording) = completed_recording(callback) else {
        return Ok(Written::Applied);
    };
    let sid = &callback.call_sid;
    if stored.store(client, sid, &recording).await? {
        return Ok(Written::Applied);
    }
    stored.park_and_store_again(client, sid, &recording).await
}

/// Applies progress, or parks it when its session does not exist yet. After parking it
/// looks once more: either that second look sees the session, or whoever creates the
/// session afterwards finds the parked row.
async fn apply_or_park_progress(
    client: &impl GenericClient,
    call_sid: &CallSid,
    progress: &CallProgress,
) -> db::Result<Written> {
    if calls::apply_progress(client, call_sid, progress).await? {
        return Ok(Written::Applied);
    }
    park_and_look_again(client, call_sid, progress).await
}

/// Parks progress whose session was not there, then looks once more (see
/// [`apply_or_park_progress`]).
pub(super) async fn park_and_look_again(
    client: &impl GenericClient,
    call_sid: &CallSid,
    progress: &CallProgress,
) -> db::Result<Written> {
    let id = parked::park_progress(client, call_sid, progress).await?;
    if calls::apply_progress(client, call_sid, progress).await? {
        parked::unpark(client, id).await?;
        return Ok(Written::Applied);
    }
    tracing::info!("callback for a call without a session yet; parked");
    Ok(Written::Parked)
}

/// Applies an SMS delivery report; one for a message the worker has not stored yet is
/// parked for the worker, by the same look-again rule as call callbacks.
async fn apply_sms_report(
    client: &impl GenericClient,
    callback: &SmsStatusCallback,
) -> db::Result<Written> {
    let sid = &callback.message_sid;
    let report = &callback.report;
    let mut outcome = outbox::apply_report(client, sid, report).await?;
    if outcome == ReportOutcome::UnknownMessage && report.is_final() {
        outbox::park_report(client, sid, report).await?;
        outcome = outbox::apply_report(client, sid, report).await?;
        if outcome != ReportOutcome::UnknownMessage {
            outbox::take_parked(client, sid).await?;
        }
    }
    tracing::info!(report = ?report, ?outcome, "SMS status callback");
    Ok(match outcome {
        ReportOutcome::UnknownMessage => Written::UnknownMessage,
        ReportOutcome::Applied | ReportOutcome::Unchanged => Written::Applied,
    })
}

/// The forwarded leg decides whether the business answered and for how long they talked;
/// the parent leg says how long the whole call lasted. The end is the later of the two ends.
/// A callback without a `Timestamp` is dated when calltrack received it.
fn progress_of_status(callback: &StatusCallback, received_at: DateTime<Utc>) -> CallProgress {
    let at = callback.timestamp.unwrap_or(received_at);
    let status = callback.status;
    if callback.is_child_leg() {
        let talk = callback
            .duration_seconds
            .filter(|_| status == CallStatus::Completed);
        // A completed leg was picked up; its start is its end less its talk time, which
        // stands in for the `answered` callback should that one be lost.
        let answered_at = match status {
            CallStatus::InProgress => Some(at),
            CallStatus::Completed => talk.map(|s| at - chrono::Duration::seconds(i64::from(s))),
            _ => None,
        };
        CallProgress {
            status: Some(status),
            answered_at,
            ended_at: status.is_terminal().then_some(at),
            talk_seconds: talk,
            leg_status: Some(status),
            ..CallProgress::default()
        }
    } else {
        CallProgress {
            status: Some(status),
            ended_at: status.is_terminal().then_some(at),
            duration_seconds: callback.duration_seconds.filter(|_| status.is_terminal()),
            ..CallProgress::default()
        }
    }
}
