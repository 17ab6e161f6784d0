//! Group commit for the webhooks' writes: concurrent voice webhooks share one statement (and
//! so one commit), and so do concurrent status, dial and screening callbacks.
//!
//! PostgreSQL spends most of a per-call write on per-statement and per-commit work, not on
//! the rows, so a statement for sixteen calls costs little more than one for a single call.
//! Each write kind has a queue and a few writer tasks. A writer that is free takes whatever
//! is waiting (no timer: a lone call is written at once, as it was before), writes it in
//! one statement, and only after that commit answers each member. Durability is what it was:
//! nobody hears back before the commit that holds their row.
//!
//! Each member keeps its own deadline (the caller's `within`): a member that gives up fails
//! open and spools itself. Its batch may still commit afterwards; the spool's replay is
//! idempotent on Twilio's keys (one session per CallSid, statuses only forward), so the row
//! is there once either way. A member that gave up before its batch was formed is left out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::calls::{Written, apply_parked, park_and_look_again};
use crate::db::calls::{self, CallProgress, IncomingCall, NumberLookup};
use crate::db::{self, PgPool, parked};
use crate::domain::{CallSid, E164};
use crate::twilio::payloads::VoiceRequest;

/// Members taken into one batch at most: bounds one statement's size and its first member's
/// wait behind the others.
const MAX_BATCH: usize = 256;

/// The queues of both write kinds, shared by every HTTP worker of one process.
#[derive(Clone)]
pub struct Writers {
    calls: Queue<CallJob>,
    progress: Queue<ProgressJob>,
}

impl Writers {
    /// Starts `writers` writer tasks per write kind on the current runtime. Each holds at most
    /// one pooled connection at a time, so the pool keeps room for everything else. The tasks
    /// end once every handle is dropped and the queues are drained.
    pub fn start(pool: &PgPool, deadline: Duration, writers: usize) -> Self {
        let writers = writers.max(1);
        let calls = {
            let pool = pool.clone();
            Queue::start(writers, move |jobs| {
                write_calls(pool.clone(), deadline, jobs)
            })
        };
        let progress = {
            let pool = pool.clone();
            Queue::start(writers, move |jobs| {
                write_progress(pool.clone(), deadline, jobs)
            })
        };
        Self { calls, progress }
    }

    /// Records an incoming call (its `to` is a phone number and it is inbound) with
    /// whatever other calls are waiting, and applies what was parked for its session.
    pub async fn record_call(&self, voice: &VoiceRequest, to: &E164) -> db::Result<NumberLookup> {
        let (reply, answer) = oneshot::channel();
        self.calls.send(CallJob {
            voice: voice.clone(),
            to: to.clone(),
            reply,
        })?;
        answer.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Applies a callback's progress with whatever other callbacks are waiting, or parks it
    /// when its session does not exist yet.
    pub async fn apply_progress(
        &self,
        call_sid: &CallSid,
        progress: CallProgress,
    ) -> db::Result<Written> {
        let (reply, answer) = oneshot::channel();
        self.progress.send(ProgressJob {
            call_sid: call_sid.clone(),
            progress,
            reply,
        })?;
        answer.await.unwrap_or_else(|_| Err(writer_gone()))
    }
}

/// The writers stopped (the process is stopping): the member fails open like any other
/// database failure.
fn writer_gone() -> db::Error {
    db::Error::Unavailable {
        context: "the batch writer stopped",
        source: "no writer is running".into(),
    }
}

/// One write kind's queue; its writer tasks share the receiving end.
struct Queue<J> {
    sender: mpsc::UnboundedSender<J>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<J: Send + 'static> Queue<J> {
    fn start<F, Fut>(writers: usize, write: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (sender, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let write = Arc::new(write);
        for _ in 0..writers {
            let (receiver, write) = (Arc::clone(&receiver), Arc::clone(&write));
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&receiver).await {
                    write(batch).await;
                }
            });
        }
        Self { sender }
    }

    fn send(&self, job: J) -> db::Result<()> {
        self.sender.send(job).map_err(|_| writer_gone())
    }
}

/// Waits for a first member, then takes whatever else is already waiting. The receiver is
/// held only while taking, so a writer that is busy writing leaves the queue to fill for
/// whichever writer is free next. `None` once every sender is gone.
async fn next_batch<J>(receiver: &Mutex<mpsc::UnboundedReceiver<J>>) -> Option<Vec<J>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// A voice webhook waiting for its batch.
struct CallJob {
    voice: VoiceRequest,
    to: E164,
    reply: oneshot::Sender<db::Result<NumberLookup>>,
}

/// A status, dial or screening callback waiting for its batch.
struct ProgressJob {
    call_sid: CallSid,
    progress: CallProgress,
    reply: oneshot::Sender<db::Result<Written>>,
}

/// Writes a batch of calls in one statement, then applies what was parked for the sessions
/// it created, then answers each member. Retries of one call in the batch are written once;
/// the first is told of the new session, the others see it as a retry would.
async fn write_calls(pool: PgPool, deadline: Duration, jobs: Vec<CallJob>) {
    let jobs: Vec<CallJob> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    crate::metrics::write_batch("voice", jobs.len());
    // For each job, the distinct call it is written as, and whether it is that call's first.
    let mut distinct: Vec<usize> = Vec::with_capacity(jobs.len());
    let mut member_of: Vec<(usize, bool)> = Vec::with_capacity(jobs.len());
    let mut seen: HashMap<&CallSid, usize> = HashMap::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        match seen.get(&job.voice.call_sid) {
            Some(&d) => member_of.push((d, false)),
            None => {
                seen.insert(&job.voice.call_sid, distinct.len());
                member_of.push((distinct.len(), true));
                distinct.push(j);
            }
        }
    }
    let result = {
        let calls: Vec<IncomingCall<'_>> = distinct
            .iter()
            .map(|&j| incoming(&jobs[j].voice, &jobs[j].to))
            .collect();
        db::error::within(
            deadline,
            "a batch of calls was not written within the webhook deadline",
            async {
                let client = pool.get().await?;
                let lookups = calls::record_incoming_calls(&client, &calls).await?;
                // After the commit, as a single call does: a callback parked meanwhile is
                // then either seen here or sees the session itself.
                let created: Vec<&str> = calls
                    .iter()
                    .zip(&lookups)
                    .filter(|(_, lookup)| {
                        matches!(
                            lookup,
                            NumberLookup::Active {
                                session: Some(_),
                                ..
                            }
                        )
                    })
                    .map(|(call, _)| call.call_sid.as_str())
                    .collect();
                if !created.is_empty() {
                    let waiting = parked::any_waiting(&client, &created).await?;
                    for call in calls
                        .iter()
                        .filter(|c| waiting.iter().any(|w| w == c.call_sid.as_str()))
                    {
                        apply_parked(&client, call.call_sid).await?;
                    }
                }
                Ok(lookups)
            },
        )
        .await
    };
    for (job, (d, first)) in jobs.into_iter().zip(member_of) {
        let answer = match &result {
            Ok(lookups) => Ok(match &lookups[d] {
                NumberLookup::Active {
                    forward_to_number,
                    flow,
                    session,
                } => NumberLookup::Active {
                    forward_to_number: forward_to_number.clone(),
                    flow: flow.clone(),
                    session: session.clone().filter(|_| first),
                },
                other => other.clone(),
            }),
            Err(error) => Err(error.for_member()),
        };
        // A member that stopped waiting has spooled itself; its row stands either way.
        let _ = job.reply.send(answer);
    }
}

fn incoming<'a>(voice: &'a VoiceRequest, to: &'a E164) -> IncomingCall<'a> {
    IncomingCall {
        call_sid: &voice.call_sid,
        to,
        caller: &voice.caller,
        raw_from: &voice.raw_from,
        status: voice.status,
        started_at: None,
        verstat: voice.verstat.as_deref(),
    }
}

/// Applies a batch of callbacks' progress, then parks those whose session does not exist yet
/// (looking once more after parking, as a single callback does). Several callbacks about one
/// call in a batch go in successive statements, in arrival order: one `UPDATE … FROM` applies
/// only one source row to a session.
async fn write_progress(pool: PgPool, deadline: Duration, jobs: Vec<ProgressJob>) {
    let jobs: Vec<ProgressJob> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    crate::metrics::write_batch("progress", jobs.len());
    let rounds = rounds_by_call(jobs.iter().map(|j| &j.call_sid));
    let result = db::error::within(
        deadline,
        "a batch of callbacks was not written within the webhook deadline",
        async {
            let client = pool.get().await?;
            let mut written = vec![Written::Applied; jobs.len()];
            for round in &rounds {
                let batch: Vec<(&CallSid, &CallProgress)> = round
                    .iter()
                    .map(|&j| (&jobs[j].call_sid, &jobs[j].progress))
                    .collect();
                let found = calls::apply_progress_batch(&client, &batch).await?;
                for (&j, found) in round.iter().zip(found) {
                    if !found {
                        let job = &jobs[j];
                        written[j] =
                            park_and_look_again(&client, &job.call_sid, &job.progress).await?;
                    }
                }
            }
            Ok(written)
        },
    )
    .await;
    for (j, job) in jobs.into_iter().enumerate() {
        let answer = match &result {
            Ok(written) => Ok(written[j]),
            Err(error) => Err(error.for_member()),
        };
        let _ = job.reply.send(answer);
    }
}

/// Splits members into rounds in which each call appears at most once: the n-th callback
/// about a call goes in round n, so each call's callbacks stay in arrival order.
fn rounds_by_call<'a>(call_sids: impl Iterator<Item = &'a CallSid>) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<&CallSid, usize> = HashMap::new();
    for (j, sid) in call_sids.enumerate() {
        let n = seen.entry(sid).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(j);
        *n += 1;
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u8) -> CallSid {
        CallSid::parse(&format!("CA{:032x}", n)).unwrap()
    }

    #[test]
    fn repeated_calls_go_in_successive_rounds_in_arrival_order() {
        let sids = [sid(1), sid(2), sid(1), sid(3), sid(1), sid(2)];
        let rounds = rounds_by_call(sids.iter());
        assert_eq!(rounds, vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
    }

    #[test]
    fn distinct_calls_make_one_round() {
        let sids = [sid(1), sid(2), sid(3)];
        assert_eq!(rounds_by_call(sids.iter()), vec![vec![0, 1, 2]]);
    }
}
