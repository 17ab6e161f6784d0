//! Spool replay: each record the database could not take when it arrived is applied exactly
//! once, by the same write path as live traffic ([`super::call_writes`]).

use deadpool_postgres::GenericClient;

use super::call_writes::{Callback, apply_callback, apply_parked, record_call};
use crate::db::{self, PgPool, calls};
use crate::domain::CallSid;
use crate::spool::{Record, RecordKind};
use crate::twilio::form::FormPairs;
use crate::twilio::payloads::{
    DialAction, PayloadError, RecordingCallback, ScreenAccept, SmsStatusCallback, StatusCallback,
    VoiceRequest,
};

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
#[tracing::instrument(skip_all, fields(record.id = %record.id, kind = record.kind.label()))]
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

/// Applies what is parked for `call_sid` if its session exists. A replay looks for the
/// session inside its transaction, before its commit: a session created meanwhile, whose
/// creator looked for parked callbacks before that commit, would otherwise never get them.
async fn settle_parked(client: &mut impl GenericClient, call_sid: &CallSid) -> db::Result<()> {
    if calls::session_exists(&*client, call_sid).await? {
        apply_parked(client, call_sid).await?;
    }
    Ok(())
}
