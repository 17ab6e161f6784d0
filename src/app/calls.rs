//! Taking Twilio's webhooks: the call and every callback about it, written to the database
//! when it answers in time, otherwise answered from the routing copy and spooled.
//!
//! Fail open for the caller, fail closed for data: whatever the database does, the caller is
//! forwarded, and what could not be written is fsynced to the spool before Twilio hears back.
//! The writes themselves are [`super::call_writes`]'s, which spool replay runs too, so a
//! replayed webhook meets the same guards as a live one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::call_writes::{Callback, Written};
use super::call_writes::{apply_callback, progress_of, recording_of};
use super::group_commit::Writers;
use super::routing::RoutingCopy;
use crate::db::calls::NumberLookup;
use crate::db::{self, PgPool};
use crate::domain::{CallFlow, CallStatus, DialFlow};
use crate::spool::{Record, RecordKind, Spool, SpoolError};
use crate::twilio::form::FormPairs;
use crate::twilio::payloads::{DialAction, VoiceRequest};

/// What the webhooks' use cases below run against: the database within a deadline, else
/// the routing copy and the spool. Built once at start-up.
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

/// The incoming-call webhook: records the session and says how to answer. When the
/// database does not answer within the deadline, the answer comes from the routing copy
/// and the call is spooled. No span of its own: the handler's span carries the CallSid.
pub async fn take_call(
    calls: &Calls,
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
    let live = calls.within(calls.writers.record_call(voice, to)).await;
    // Each answer from the database teaches the routing copy (almost always an atomic
    // load that finds the copy as new), so a fail-open answer a moment later is never
    // older than this one.
    let error = match live {
        Ok(NumberLookup::Unknown) => return Ok(VoiceAnswer::Reject),
        Ok(NumberLookup::Inactive { routing_version }) => {
            calls.routing.learn_inactive(routing_version, to);
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
            calls
                .routing
                .learn_forwarding(routing_version, to, &forward_to_number, &flow);
            return Ok(answer_for(forward_to_number, flow, received_at));
        }
        Err(error) => error,
    };
    crate::metrics::fail_open("voice");
    tracing::warn!(error = %error, "database unavailable; answering the call from the routing copy");
    match calls.routing.lookup(to) {
        Some(route) if route.is_active => {
            calls.spool_call(RecordKind::Voice, form, received_at).await;
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
pub async fn after_dial(calls: &Calls, dial: &DialAction, carried: Option<DialFlow>) -> AfterDial {
    let flow = carried.or_else(|| {
        tracing::info!("dial action URL carries no call flow; reading the routing copy");
        let to = dial.to.as_ref()?;
        Some(calls.routing.lookup(to)?.flow.dial_flow())
    });
    let Some(flow) = flow.filter(|flow| flow.voicemail) else {
        return AfterDial::Hangup;
    };
    let not_taken = match dial.outcome.status {
        CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed => true,
        CallStatus::Completed if flow.screened => {
            let answered = calls
                .within(async {
                    let client = calls.pool.get().await?;
                    db::calls::was_answered(&client, &dial.call_sid).await
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
pub async fn spool_fallback_call(calls: &Calls, form: &FormPairs) {
    calls
        .spool_call(RecordKind::VoiceFallback, form, Utc::now())
        .await;
}

/// A status, dial, recording or SMS status callback: applied within the deadline, else
/// spooled. Either way Twilio gets its `2xx`.
#[tracing::instrument(skip_all, fields(kind = ?callback.kind()))]
pub async fn take_callback(
    calls: &Calls,
    callback: &Callback,
    form: &FormPairs,
) -> Result<Written, TakeCallbackError> {
    let received_at = Utc::now();
    let live = match (progress_of(callback, received_at), recording_of(callback)) {
        (Some((call_sid, progress)), _) => {
            calls
                .within(calls.writers.apply_progress(call_sid, progress))
                .await
        }
        (None, Some((recording, stored))) if recording.completed_url().is_some() => {
            calls
                .within(calls.writers.store_recording(recording, stored))
                .await
        }
        _ => {
            calls
                .within(async {
                    let client = calls.pool.get().await?;
                    apply_callback(&client, callback, received_at).await
                })
                .await
        }
    };
    let error = match live {
        Ok(written) => return Ok(written),
        Err(error) => error,
    };
    crate::metrics::fail_open(callback.kind().label());
    tracing::warn!(error = %error, "database unavailable; spooling the callback");
    let record = Record::new(callback.kind(), form.pairs().to_vec(), received_at);
    match calls.spool.append(&record).await {
        Ok(()) => Ok(Written::Spooled),
        Err(spool) => {
            crate::metrics::spool_write_failed();
            Err(TakeCallbackError::NotKept { db: error, spool })
        }
    }
}

impl Calls {
    /// Spools a call. The caller is forwarded even if this fails (the disk is full or
    /// broken): losing the record is bad, dropping the caller is worse.
    async fn spool_call(&self, kind: RecordKind, form: &FormPairs, received_at: DateTime<Utc>) {
        let record = Record::new(kind, form.pairs().to_vec(), received_at);
        if let Err(error) = self.spool.append(&record).await {
            crate::metrics::spool_write_failed();
            tracing::error!(error = %error, record.id = %record.id, "call could not be spooled; it will be missing until reconciliation");
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
