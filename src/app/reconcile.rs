//! Reconciliation: filling in, from Twilio's call log, the calls and final statuses calltrack
//! never received (say, while no instance was up).
//!
//! Nothing here writes SQL of its own: a missing call goes through [`record_call`], as its
//! voice webhook would have, and its final state through [`apply_callback`] as the status
//! callbacks Twilio would have sent, so every guard of live traffic holds (one session per
//! CallSid, statuses only forward, values only filled or extended). Running it again over
//! the same window changes nothing.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::call_writes::{Callback, apply_callback, record_call};
use crate::db::calls::NumberLookup;
use crate::db::reconcile::{self as runs, RunCounts, RunKind};
use crate::db::{self, PgPool};
use crate::domain::CallStatus;
use crate::twilio::client::{CallFilter, CallRecord, TwilioClient, TwilioError};

/// The start-up run reaches this far back when no start-up run ever finished.
pub const FIRST_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// A start-up run begins this long before the last one ended: a call that started just before
/// that end may not have been in Twilio's log yet, and clocks disagree a little.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Calls Twilio listed to the tracked numbers that started within the window.
    pub calls_seen: u32,
    /// Sessions created for inbound calls calltrack never received.
    pub sessions_created: u32,
    /// Sessions without a final status that got Twilio's.
    pub statuses_completed: u32,
    /// Forwarded legs whose answer, end and talk time were applied to their session.
    pub children_applied: u32,
}

impl ReconcileReport {
    fn counts(&self) -> RunCounts {
        let stored = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        RunCounts {
            calls_seen: stored(self.calls_seen),
            sessions_created: stored(self.sessions_created),
            statuses_completed: stored(self.statuses_completed),
            children_applied: stored(self.children_applied),
        }
    }
}

/// The calls a run looked at: those that started in `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading Twilio's call log failed")]
    Twilio(#[from] TwilioError),
    #[error("the database failed while reconciling")]
    Db(#[from] db::Error),
}

/// Which run to make.
#[derive(Debug, Clone, Copy)]
pub enum Run {
    /// `calltrack reconcile --since`: from `since` to now.
    Command { since: DateTime<Utc> },
    /// `serve`'s start-up run: from the end of the last finished start-up run, less
    /// [`OVERLAP`], to now; [`FIRST_WINDOW`] when none ever finished.
    StartUp,
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Ran {
        window: Window,
        report: ReconcileReport,
    },
    /// Another process holds the reconciliation lock; nothing was done.
    Busy,
}

/// Makes a recorded run under the reconciliation lock: at most one process reconciles at a
/// time, and a second one asking meanwhile gets [`RunOutcome::Busy`]. The run's row records
/// its window, and its counts once finished; a failed run keeps its error and stays
/// unfinished, so the next start-up run covers its window again.
pub async fn run(
    pool: &PgPool,
    twilio: &TwilioClient,
    which: Run,
) -> Result<RunOutcome, ReconcileError> {
    let conn = pool.get().await.map_err(db::Error::from)?;
    if !runs::try_lock(&conn).await? {
        return Ok(RunOutcome::Busy);
    }
    let lock = HeldLock(Some(conn));
    let lock_conn = lock.conn()?;
    let until = Utc::now();
    let (kind, since) = match which {
        Run::Command { since } => (RunKind::Cli, since),
        Run::StartUp => {
            let last = runs::last_window_end(lock_conn, RunKind::Serve).await?;
            let since = last.map_or(until - FIRST_WINDOW, |end| end - OVERLAP);
            (RunKind::Serve, since)
        }
    };
    let window = Window {
        since: since.min(until),
        until,
    };
    let id = runs::start_run(lock_conn, kind, window.since, window.until).await?;
    let result = reconcile(pool, twilio, window.since, window.until).await;
    match &result {
        Ok(report) => runs::finish_run(lock_conn, id, &report.counts()).await?,
        Err(error) => {
            if let Err(not_kept) = runs::fail_run(lock_conn, id, &chain(error)).await {
                tracing::warn!(error = %not_kept, "the failed run's error was not recorded");
            }
        }
    }
    lock.release().await;
    Ok(RunOutcome::Ran {
        window,
        report: result?,
    })
}

/// Reconciles the calls to every tracked number that started in `[since, until)`: creates
/// the sessions of inbound calls calltrack never received (dated at Twilio's start time,
/// matched to the recipient by phone), and gives every session that lacks its final status
/// what Twilio knows, its forwarded legs' answer and talk time included. A session that
/// already has its final status is left alone. Takes no lock and records no run: see [`run`].
pub async fn reconcile(
    pool: &PgPool,
    twilio: &TwilioClient,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<ReconcileReport, ReconcileError> {
    let mut client = pool.get().await.map_err(db::Error::from)?;
    let numbers = runs::numbers_to_reconcile(&client, since).await?;
    let mut report = ReconcileReport::default();
    for number in &numbers {
        let filter = CallFilter {
            to: Some(number),
            started_on_or_after: Some(since.date_naive()),
            ..CallFilter::default()
        };
        let calls = twilio.list_calls(&filter).await?;
        // Twilio filters by date; the window's exact start is ours to apply.
        for call in calls
            .iter()
            .filter(|c| c.start_time >= since && c.start_time < until)
        {
            report.calls_seen += 1;
            reconcile_call(&mut client, twilio, call, &mut report).await?;
        }
    }
    tracing::info!(
        numbers = numbers.len(),
        calls_seen = report.calls_seen,
        sessions_created = report.sessions_created,
        statuses_completed = report.statuses_completed,
        children_applied = report.children_applied,
        "reconciled with Twilio's call log"
    );
    Ok(report)
}

/// Brings one listed call's session up to what Twilio knows of it.
#[tracing::instrument(skip_all, fields(call.sid = %call.sid))]
async fn reconcile_call(
    client: &mut impl GenericClient,
    twilio: &TwilioClient,
    call: &CallRecord,
    report: &mut ReconcileReport,
) -> Result<(), ReconcileError> {
    let Some(voice) = call.incoming_call() else {
        return Ok(());
    };
    let had_final = match runs::session_is_final(&*client, &call.sid).await? {
        Some(had_final) => had_final,
        None => match record_call(client, &voice, Some(call.start_time)).await? {
            NumberLookup::Active {
                session: Some(session),
                ..
            } => {
                report.sessions_created += 1;
                tracing::info!(session.id = %session.id, matched = session.matched, "call session created from Twilio's call log");
                false
            }
            // Its own voice webhook (a retry, a spool replay) created it just now.
            NumberLookup::Active { session: None, .. } => false,
            // Calls to a number that is unknown or switched off get no session, live or not.
            NumberLookup::Unknown | NumberLookup::Inactive { .. } => return Ok(()),
        },
    };
    if had_final {
        return Ok(());
    }
    // A forwarded leg exists only once the call's TwiML runs, i.e. the call is in progress.
    if call.status == CallStatus::InProgress || call.status.is_terminal() {
        let filter = CallFilter {
            parent_call_sid: Some(&call.sid),
            ..CallFilter::default()
        };
        for child in twilio.list_calls(&filter).await? {
            if child.parent_call_sid.as_ref() == Some(&call.sid) && apply(&*client, &child).await? {
                report.children_applied += 1;
            }
        }
    }
    apply(&*client, call).await?;
    if call.status.is_terminal() {
        report.statuses_completed += 1;
    }
    Ok(())
}

/// Applies the status callbacks a listed call stands for; false when it stands for none.
async fn apply(client: &impl GenericClient, call: &CallRecord) -> Result<bool, ReconcileError> {
    let callbacks = call.status_callbacks();
    for callback in &callbacks {
        // Every one is dated by Twilio, so the time of receipt is never used.
        apply_callback(client, &Callback::Status(callback.clone()), Utc::now()).await?;
    }
    Ok(!callbacks.is_empty())
}

/// The connection holding the session-level reconciliation lock. Dropped without
/// [`HeldLock::release`] (an error, a cancelled run) it is closed rather than returned to
/// the pool, so the lock ends with it instead of staying on a pooled connection.
struct HeldLock(Option<deadpool_postgres::Object>);

impl HeldLock {
    fn conn(&self) -> Result<&deadpool_postgres::Object, ReconcileError> {
        self.0.as_ref().ok_or_else(|| {
            db::Error::invariant(
                "reconciliation lock",
                "the lock's connection is gone".into(),
            )
            .into()
        })
    }

    async fn release(mut self) {
        // Unlocked, the connection goes back to the pool when dropped here.
        if let Some(conn) = self.0.take()
            && let Err(error) = runs::unlock(&conn).await
        {
            tracing::warn!(%error, "reconciliation lock not released; closing its connection");
            drop(deadpool_postgres::Object::take(conn));
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(deadpool_postgres::Object::take(conn));
        }
    }
}

/// An error and its sources, one sentence each, for the run's row.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
