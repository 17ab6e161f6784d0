//! Taking Twilio's webhooks: the call and every callback about it, written to the database
//! when it answers in time, otherwise answered from the routing copy and spooled.
//!
//! Fail open for the caller, fail closed for data: whatever the database does, the caller is
//! forwarded, and what could not be written is fsynced to the spool before Twilio hears back.
//! Live traffic and spool replay run the same functions below ([`record_call`],
//! [`apply_callback`]), so a replayed webhook meets the same guards as a live one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::group_commit::Writers;
use super::routing::RoutingCopy;
use crate::db::calls::{self, CallProgress, IncomingCall, NumberLookup, Recording};
use crate::db::outbox::{self, ReportOutcome};
use crate::db::parked::{self, ParkedCallback};
use crate::db::{self, PgPool};
use crate::domain::{CallFlow, CallSid, CallStatus, DialFlow};
use crate::spool::{Record, RecordKind, Spool, SpoolError};
use crate::twilio::form::FormPairs;
use crate::twilio::payloads::{
    DialAction, PayloadError, RecordingCallback, ScreenAccept, SmsStatusCallback, StatusCallback,
    VoiceRequest,
};

/// Where calls are written: the database within a deadline, else the spool.
#[derive(Clone)]
pub struct Calls {
    pub pool: PgPool,
    /// How long a webhook waits for the database before it fails open.
    pub deadline: Duration,
    pub routing: Arc<RoutingCopy>,
    pub spool: Spool,
    /// The group-commit writers the voice webhook and the progress callbacks write through.
    pub writers: Writers,
}

/// How the voice webhook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceAnswer {
    /// Not a tracked number.
    Reject,
    /// Not a call to take: Twilio says it is not inbound.
    Hangup,
    /// Tracked but switched off.
    Inactive,
    /// Forward to the business.
    Forward {
        forward_to_number: String,
        flow: CallFlow,
    },
    /// Outside business hours: voicemail (or the greeting and a hang-up without one).
    Closed { flow: CallFlow },
}

/// How the `<Dial action>` answers once the forwarded leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterDial {
    Hangup,
    /// The business did not take the call: the caller may leave a message after `greeting`.
    Voicemail {
        greeting: String,
    },
}

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

#[derive(Debug, thiserror::Error)]
pub enum TakeCallError {
    /// Neither the database nor the routing copy knows the number: answering an error sends
    /// Twilio to the number's fallback URL, which forwards without either.
    #[error("the database is unavailable and the routing copy does not know the number")]
    NoRoute(#[source] db::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum TakeCallbackError {
    /// The database did not take the callback and neither did the spool.
    #[error("the callback could be neither written nor spooled")]
    NotKept {
        db: db::Error,
        #[source]
        spool: SpoolError,
    },
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
    fn call_sid(&self) -> Option<&CallSid> {
        match self {
            Self::Status(status) => Some(status.session_call_sid()),
            Self::Dial(dial) => Some(&dial.call_sid),
            Self::Recording(recording) | Self::Voicemail(recording) => Some(&recording.call_sid),
            Self::ScreenAccept(accept) => Some(&accept.parent_call_sid),
            Self::SmsStatus(_) => None,
        }
    }

    fn kind(&self) -> RecordKind {
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

impl Calls {
    /// The incoming-call webhook: records the session and says how to answer. When the
    /// database does not answer within the deadline, the answer comes from the routing copy
    /// and the call is spooled. No span of its own: the handler's span carries the CallSid.
    pub async fn take_call(
        &self,
        voice: &VoiceRequest,
        form: &FormPairs,
    ) -> Result<VoiceAnswer, TakeCallError> {
        if !voice.inbound {
            tracing::info!("a call that is not inbound hung up; no session");
            return Ok(VoiceAnswer::Hangup);
        }
        let Some(to) = &voice.to else {
            tracing::info!("a call to an address that is not a phone number rejected");
            return Ok(VoiceAnswer::Reject);
        };
        let received_at = Utc::now();
        let live = self.within(self.writers.record_call(voice, to)).await;
        // Each answer from the database teaches the routing copy (almost always an atomic
        // load that finds the copy as new), so a fail-open answer a moment later is never
        // older than this one.
        let error = match live {
            Ok(NumberLookup::Unknown) => return Ok(VoiceAnswer::Reject),
            Ok(NumberLookup::Inactive { routing_version }) => {
                self.routing.learn_inactive(routing_version, to);
                return Ok(VoiceAnswer::Inactive);
            }
            Ok(NumberLookup::Active {
                forward_to_number,
                flow,
                session,
                routing_version,
            }) => {
                if let Some(session) = session {
                    tracing::info!(session.id = %session.id, matched = session.matched, "call session created");
                }
                self.routing
                    .learn_forwarding(routing_version, to, &forward_to_number, &flow);
                return Ok(answer_for(forward_to_number, flow, received_at));
            }
            Err(error) => error,
        };
        crate::metrics::fail_open("voice");
        tracing::warn!(error = %error, "database unavailable; answering the call from the routing copy");
        match self.routing.lookup(to) {
            Some(route) if route.is_active => {
                self.spool_call(RecordKind::Voice, form, received_at).await;
                Ok(answer_for(route.forward_to_number, route.flow, received_at))
            }
            Some(_) => Ok(VoiceAnswer::Inactive),
            None => Err(TakeCallError::NoRoute(error)),
        }
    }

    /// What follows the forwarded leg: voicemail when the business did not take the call and
    /// the flow the call was forwarded with has it. That flow is `carried` by the dial action
    /// URL; one that does not carry it (calls in flight across an upgrade, a greeting too long
    /// to carry, a fallback forward of a number unknown to the copy) reads the routing copy.
    /// Whether a screened call was accepted comes from the database, within the deadline
    /// (without it, no voicemail: a caller who talked to the business hears nothing more
    /// rather than a greeting).
    pub async fn after_dial(&self, dial: &DialAction, carried: Option<DialFlow>) -> AfterDial {
        let flow = carried.or_else(|| {
            tracing::info!("dial action URL carries no call flow; reading the routing copy");
            let to = dial.to.as_ref()?;
            Some(self.routing.lookup(to)?.flow.dial_flow())
        });
        let Some(flow) = flow.filter(|flow| flow.voicemail) else {
            return AfterDial::Hangup;
        };
        let not_taken = match dial.outcome.status {
            CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed => true,
            CallStatus::Completed if flow.screened => {
                let answered = self
                    .within(async {
                        let client = self.pool.get().await?;
                        calls::was_answered(&client, &dial.call_sid).await
                    })
                    .await;
                matches!(answered, Ok(false))
            }
            _ => false,
        };
        if not_taken {
            AfterDial::Voicemail {
                greeting: flow.greeting().to_owned(),
            }
        } else {
            AfterDial::Hangup
        }
    }

    /// The voice fallback URL's call: already forwarded by the URL itself, so it is only
    /// spooled, to be recorded like any other once replayed.
    pub async fn spool_fallback_call(&self, form: &FormPairs) {
        self.spool_call(RecordKind::VoiceFallback, form, Utc::now())
            .await;
    }

    /// Spools a call. The caller is forwarded even if this fails (the disk is full or
    /// broken): losing the record is bad, dropping the caller is worse.
    async fn spool_call(&self, kind: RecordKind, form: &FormPairs, received_at: DateTime<Utc>) {
        let record = Record::new(kind, form.pairs().to_vec(), received_at);
        if let Err(error) = self.spool.append(&record).await {
            crate::metrics::spool_write_failed();
            tracing::error!(error = %error, record.id = %record.id, "call could not be spooled; it will be missing until reconciliation");
        }
    }

    /// A status, dial, recording or SMS status callback: applied within the deadline, else
    /// spooled. Either way Twilio gets its `2xx`.
    #[tracing::instrument(skip_all, fields(kind = ?callback.kind()))]
    pub async fn take_callback(
        &self,
        callback: &Callback,
        form: &FormPairs,
    ) -> Result<Written, TakeCallbackError> {
        let received_at = Utc::now();
        let live = match (progress_of(callback, received_at), recording_of(callback)) {
            (Some((call_sid, progress)), _) => {
                self.within(self.writers.apply_progress(call_sid, progress))
                    .await
            }
            (None, Some((recording, stored))) if recording.completed_url().is_some() => {
                self.within(self.writers.store_recording(recording, stored))
                    .await
            }
            _ => {
                self.within(async {
                    let client = self.pool.get().await?;
                    apply_callback(&client, callback, received_at).await
                })
                .await
            }
        };
        let error = match live {
            Ok(written) => return Ok(written),
            Err(error) => error,
        };
        crate::metrics::fail_open(kind_label(callback.kind()));
        tracing::warn!(error = %error, "database unavailable; spooling the callback");
        let record = Record::new(callback.kind(), form.pairs().to_vec(), received_at);
        match self.spool.append(&record).await {
            Ok(()) => Ok(Written::Spooled),
            Err(spool) => {
                crate::metrics::spool_write_failed();
                Err(TakeCallbackError::NotKept { db: error, spool })
            }
        }
    }

    /// Runs database work within the deadline; running out of time is `Unavailable`.
    async fn within<T>(&self, work: impl Future<Output = db::Result<T>>) -> db::Result<T> {
        db::error::within(
            self.deadline,
            "the database did not answer within the webhook deadline",
            work,
        )
        .await
    }
}

/// Forward, unless the number keeps business hours and is closed at `at`.
fn answer_for(forward_to_number: String, flow: CallFlow, at: DateTime<Utc>) -> VoiceAnswer {
    if flow.is_open_at(at) {
        VoiceAnswer::Forward {
            forward_to_number,
            flow,
        }
    } else {
        VoiceAnswer::Closed { flow }
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

/// Applies what is parked for `call_sid` if its session exists. A replay looks for the
/// session inside its transaction, before its commit: a session created meanwhile, whose
/// creator looked for parked callbacks before that commit, would otherwise never get them.
async fn settle_parked(client: &mut impl GenericClient, call_sid: &CallSid) -> db::Result<()> {
    if calls::session_exists(&*client, call_sid).await? {
        apply_parked(client, call_sid).await?;
    }
    Ok(())
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
fn progress_of(
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
fn recording_of(callback: &Callback) -> Option<(&RecordingCallback, Stored)> {
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

/// The webhook a record kind came from, as a metrics label.
fn kind_label(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Voice => "voice",
        RecordKind::VoiceFallback => "voice_fallback",
        RecordKind::Status => "status",
        RecordKind::Dial => "dial",
        RecordKind::Recording => "recording",
        RecordKind::SmsStatus => "sms_status",
        RecordKind::ScreenAccept => "screen_accept",
        RecordKind::Voicemail => "voicemail",
    }
}

/// What replaying one spool record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    Applied,
    /// Its marker was there: an earlier replay committed it before a crash.
    AlreadyApplied,
    /// Its fields no longer parse (they did when it was received); logged and dropped.
    Unreadable,
}

/// Applies one spool record exactly once: the marker and the record's statements commit in
/// one transaction. What must follow the commit (the parked callbacks of a session that
/// exists now; an SMS report's second look) runs after it, idempotently, so nothing waits on
/// an uncommitted row.
#[tracing::instrument(skip_all, fields(record.id = %record.id, kind = kind_label(record.kind)))]
pub async fn replay(pool: &PgPool, record: &Record) -> db::Result<Replayed> {
    let form = FormPairs::from_pairs(record.fields.iter().cloned());
    let parsed = match Replay::parse(record.kind, &form) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(%error, "spooled record unreadable; dropped");
            return Ok(Replayed::Unreadable);
        }
    };
    let mut client = pool.get().await?;
    let mut tx = client
        .transaction()
        .await
        .map_err(|e| db::Error::from_driver("starting a replay failed", e))?;
    let outcome = if db::spool_markers::mark_applied(&tx, record.id).await? {
        match &parsed {
            Replay::Call(voice) => {
                record_call(&mut tx, voice, Some(record.received_at)).await?;
            }
            Replay::Callback(callback) => {
                apply_callback(&tx, callback, record.received_at).await?;
            }
        }
        tx.commit()
            .await
            .map_err(|e| db::Error::from_driver("committing a replay failed", e))?;
        Replayed::Applied
    } else {
        tx.rollback()
            .await
            .map_err(|e| db::Error::from_driver("ending a replay failed", e))?;
        Replayed::AlreadyApplied
    };
    // Also after a marker is found: the replay that committed it may have failed right here.
    match &parsed {
        Replay::Call(voice) => settle_parked(&mut client, &voice.call_sid).await?,
        Replay::Callback(callback @ Callback::SmsStatus(_)) => {
            apply_callback(&client, callback, record.received_at).await?;
        }
        Replay::Callback(callback) => {
            if let Some(call_sid) = callback.call_sid() {
                settle_parked(&mut client, call_sid).await?;
            }
        }
    }
    Ok(outcome)
}

/// A spooled record's fields, parsed as its webhook parsed them.
enum Replay {
    Call(VoiceRequest),
    Callback(Callback),
}

impl Replay {
    fn parse(kind: RecordKind, form: &FormPairs) -> Result<Self, PayloadError> {
        Ok(match kind {
            RecordKind::Voice | RecordKind::VoiceFallback => {
                Self::Call(VoiceRequest::from_form(form)?)
            }
            RecordKind::Status => {
                Self::Callback(Callback::Status(StatusCallback::from_form(form)?))
            }
            RecordKind::Dial => Self::Callback(Callback::Dial(DialAction::from_form(form)?)),
            RecordKind::Recording => {
                Self::Callback(Callback::Recording(RecordingCallback::from_form(form)?))
            }
            RecordKind::SmsStatus => {
                Self::Callback(Callback::SmsStatus(SmsStatusCallback::from_form(form)?))
            }
            RecordKind::ScreenAccept => {
                Self::Callback(Callback::ScreenAccept(ScreenAccept::from_form(form)?))
            }
            RecordKind::Voicemail => {
                Self::Callback(Callback::Voicemail(RecordingCallback::from_form(form)?))
            }
        })
    }
}
