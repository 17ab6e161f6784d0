//! Group commit for the webhooks' writes: concurrent voice webhooks share one statement (and
//! so one commit), and so do concurrent status, dial and screening callbacks, and concurrent
//! recording callbacks.
//!
//! PostgreSQL spends most of a per-call write on per-statement and per-commit work, not on
//! the rows, so a statement for sixteen calls costs little more than one for a single call.
//! Each write kind has a queue and a few writer slots. A webhook that finds a slot free takes
//! whatever is waiting (no timer: a lone call is written at once, as it was before), writes
//! it in one statement, and only after that commit answers each member. Durability is what it was:
//! nobody hears back before the commit that holds their row.
//!
//! Each member keeps its own deadline (the caller's `within`): a member that gives up fails
//! open and spools itself. Its batch may still commit afterwards; the spool's replay is
//! idempotent on Twilio's keys (one session per CallSid, statuses only forward), so the row
//! is there once either way. A member that gave up before its batch was formed is left out.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use super::call_writes::{Stored, Written, apply_parked, completed_recording, park_and_look_again};
use crate::db::calls::{self, CallProgress, IncomingCall, NumberLookup, Recording};
use crate::db::{self, PgPool, parked};
use crate::domain::{CallSid, E164};
use crate::twilio::payloads::{RecordingCallback, VoiceRequest};

/// Members taken into one batch at most: bounds one statement's size and its first member's
/// wait behind the others.
const MAX_BATCH: usize = 256;

/// The queues of the three write kinds, shared by every HTTP worker of one process.
#[derive(Clone)]
pub struct Writers {
    calls: Queue<CallJob>,
    progress: Queue<ProgressJob>,
    recordings: Queue<RecordingJob>,
}

impl Writers {
    /// Connections the writers hold at most: one per writer slot of each write kind.
    pub const fn connections(writers: usize) -> usize {
        3 * writers
    }

    /// Up to `writers` batches per write kind are written at once, each holding one
    /// connection of `pool` (of [`Self::connections`] at most, when the pool is theirs alone).
    pub fn start(pool: &PgPool, deadline: Duration, writers: usize) -> Self {
        Self {
            calls: Queue::writing(pool, deadline, writers, write_calls),
            progress: Queue::writing(pool, deadline, writers, write_progress),
            recordings: Queue::writing(pool, deadline, writers, write_recordings),
        }
    }

    /// Records an incoming call (its `to` is a phone number and it is inbound) with
    /// whatever other calls are waiting, and applies what was parked for its session.
    pub async fn record_call(&self, voice: &VoiceRequest, to: &E164) -> db::Result<NumberLookup> {
        let (reply, answer) = oneshot::channel();
        let job = CallJob {
            voice: voice.clone(),
            to: to.clone(),
            reply,
        };
        self.calls.submit(job, answer).await
    }

    /// Applies a callback's progress with whatever other callbacks are waiting, or parks it
    /// when its session does not exist yet.
    pub async fn apply_progress(
        &self,
        call_sid: &CallSid,
        progress: CallProgress,
    ) -> db::Result<Written> {
        let (reply, answer) = oneshot::channel();
        let job = ProgressJob {
            call_sid: call_sid.clone(),
            progress,
            reply,
        };
        self.progress.submit(job, answer).await
    }

    /// Stores a finished recording (or voicemail message) with whatever other recordings
    /// are waiting, or parks it when its session does not exist yet.
    pub(super) async fn store_recording(
        &self,
        callback: &RecordingCallback,
        stored: Stored,
    ) -> db::Result<Written> {
        let (reply, answer) = oneshot::channel();
        let job = RecordingJob {
            callback: callback.clone(),
            stored,
            reply,
        };
        self.recordings.submit(job, answer).await
    }
}

/// A member's answer never came: its batch was dropped unwritten (the process is stopping).
/// The member fails open like after any other database failure.
fn writer_gone() -> db::Error {
    db::Error::Unavailable {
        context: "the batch writer stopped",
        why: db::error::Unanswered::Unreachable,
        source: "the batch was dropped".into(),
    }
}

type WriteBatch<J> = dyn Fn(Vec<J>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// One write kind's queue. There is no standing writer task: a member that finds a writer
/// slot free takes everything waiting (its own job included) and starts writing it; members
/// that find every slot taken wait, and the writer, once its batch is committed, takes
/// whatever queued meanwhile before it frees the slot (leader-based group commit, as
/// PostgreSQL's own WAL flush). No timer: a lone call is written the moment it arrives.
struct Queue<J> {
    inner: Arc<QueueInner<J>>,
}

struct QueueInner<J> {
    waiting: std::sync::Mutex<Vec<J>>,
    slots: Arc<Semaphore>,
    write: Box<WriteBatch<J>>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<J: Send + 'static> Queue<J> {
    fn new<F>(writers: usize, write: F) -> Self
    where
        F: Fn(Vec<J>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    {
        Self {
            inner: Arc::new(QueueInner {
                waiting: std::sync::Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(writers.max(1))),
                write: Box::new(write),
            }),
        }
    }

    /// A queue whose batches `write_batch` writes through `pool` within `deadline`.
    fn writing<W, F>(pool: &PgPool, deadline: Duration, writers: usize, write_batch: W) -> Self
    where
        W: Fn(PgPool, Duration, Vec<J>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let pool = pool.clone();
        Self::new(writers, move |jobs| {
            Box::pin(write_batch(pool.clone(), deadline, jobs))
        })
    }

    /// Queues `job`, writes batches while a slot is free and jobs wait, and returns the
    /// job's answer. The batch is written by a task of its own, so a member whose deadline
    /// runs out (its future dropped) never cancels the others' write.
    async fn submit<T>(
        &self,
        job: J,
        mut answer: oneshot::Receiver<db::Result<T>>,
    ) -> db::Result<T> {
        self.lock_waiting().push(job);
        loop {
            tokio::select! {
                biased;
                answered = &mut answer => {
                    return answered.unwrap_or_else(|_| Err(writer_gone()));
                }
                slot = Arc::clone(&self.inner.slots).acquire_owned() => {
                    let Ok(slot) = slot else {
                        return Err(writer_gone());
                    };
                    let batch = self.take_batch();
                    if batch.is_empty() {
                        // Someone else took this job into a batch being written.
                        drop(slot);
                        return answer.await.unwrap_or_else(|_| Err(writer_gone()));
                    }
                    // The writer goes on with whatever queued during its write before it
                    // gives up its slot: the next batch starts at once, not after a waiting
                    // member has been woken to take it.
                    let queue = self.clone();
                    tokio::spawn(async move {
                        let mut batch = batch;
                        while !batch.is_empty() {
                            (queue.inner.write)(batch).await;
                            batch = queue.take_batch();
                        }
                        drop(slot);
                    });
                }
            }
        }
    }

    /// Everything waiting, up to a batch.
    fn take_batch(&self) -> Vec<J> {
        let mut waiting = self.lock_waiting();
        let n = waiting.len().min(MAX_BATCH);
        waiting.drain(..n).collect()
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<J>> {
        // Only pushes and drains happen under the lock; neither can leave it inconsistent.
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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

/// A recording callback waiting for its batch.
struct RecordingJob {
    callback: RecordingCallback,
    stored: Stored,
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
                let mut client = pool.get().await?;
                calls::prepare_incoming_calls(&client, calls.len()).await?;
                parked::prepare_any_waiting(&client).await?;
                // A batch of one is exactly the per-call statement: a lone call pays nothing
                // for the arrays.
                let write = async {
                    match calls.as_slice() {
                        [call] => Ok(vec![calls::record_incoming_call(&client, call).await?]),
                        _ => calls::record_incoming_calls(&client, &calls).await,
                    }
                };
                // The look for parked callbacks runs after the write's commit, as a single
                // call's does: a callback parked meanwhile is then either seen here or sees
                // the session itself. Pipelined, it costs no round trip of its own.
                let sids: Vec<&str> = calls.iter().map(|c| c.call_sid.as_str()).collect();
                let (lookups, waiting) =
                    db::pipeline::one_behind_the_other(write, parked::any_waiting(&client, &sids))
                        .await;
                let lookups = lookups?;
                let waiting = waiting?;
                let created_and_waited_for = calls.iter().zip(&lookups).filter(|(call, lookup)| {
                    matches!(
                        lookup,
                        NumberLookup::Active {
                            session: Some(_),
                            ..
                        }
                    ) && waiting.iter().any(|w| w == call.call_sid.as_str())
                });
                for (call, _) in created_and_waited_for {
                    apply_parked(&mut client, call.call_sid).await?;
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
                    routing_version,
                } => NumberLookup::Active {
                    forward_to_number: forward_to_number.clone(),
                    flow: flow.clone(),
                    session: session.clone().filter(|_| first),
                    routing_version: *routing_version,
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
    let rounds = rounds_by_call(jobs.iter().map(|j| &j.call_sid).enumerate());
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
                let found = match batch.as_slice() {
                    [(call_sid, progress)] => {
                        vec![calls::apply_progress(&client, call_sid, progress).await?]
                    }
                    _ => calls::apply_progress_batch(&client, &batch).await?,
                };
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
    answer_each(jobs.into_iter().map(|j| j.reply), &result);
}

/// Answers each member of a callback batch with what its write did, or the batch's failure.
fn answer_each(
    replies: impl Iterator<Item = oneshot::Sender<db::Result<Written>>>,
    result: &db::Result<Vec<Written>>,
) {
    for (j, reply) in replies.enumerate() {
        let answer = match result {
            Ok(written) => Ok(written[j]),
            Err(error) => Err(error.for_member()),
        };
        // A member that stopped waiting has spooled itself; its write stands either way.
        let _ = reply.send(answer);
    }
}

/// Stores a batch of recordings: one statement per kind (call recording, voicemail) and
/// round, as progress goes, then parks those whose session does not exist yet.
async fn write_recordings(pool: PgPool, deadline: Duration, jobs: Vec<RecordingJob>) {
    let jobs: Vec<RecordingJob> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    crate::metrics::write_batch("recording", jobs.len());
    let recordings: Vec<Option<Recording<'_>>> = jobs
        .iter()
        .map(|j| completed_recording(&j.callback))
        .collect();
    let result = db::error::within(
        deadline,
        "a batch of recordings was not written within the webhook deadline",
        async {
            let client = pool.get().await?;
            let mut written = vec![Written::Applied; jobs.len()];
            for stored in [Stored::CallRecording, Stored::Voicemail] {
                let of_kind = recordings
                    .iter()
                    .enumerate()
                    .filter(|&(j, r)| jobs[j].stored == stored && r.is_some())
                    .map(|(j, _)| (j, &jobs[j].callback.call_sid));
                for round in &rounds_by_call(of_kind) {
                    let (members, batch): (Vec<usize>, Vec<(&CallSid, Recording<'_>)>) = round
                        .iter()
                        .filter_map(|&j| {
                            Some((j, (&jobs[j].callback.call_sid, recordings[j].clone()?)))
                        })
                        .unzip();
                    let found = match batch.as_slice() {
                        [(call_sid, recording)] => {
                            vec![stored.store(&client, call_sid, recording).await?]
                        }
                        _ => stored.store_batch(&client, &batch).await?,
                    };
                    for ((j, (call_sid, recording)), found) in
                        members.into_iter().zip(&batch).zip(found)
                    {
                        if !found {
                            written[j] = stored
                                .park_and_store_again(&client, call_sid, recording)
                                .await?;
                        }
                    }
                }
            }
            Ok(written)
        },
    )
    .await;
    answer_each(jobs.into_iter().map(|j| j.reply), &result);
}

/// Splits members (each its index in the batch, and its call) into rounds in which each
/// call appears at most once: the n-th callback about a call goes in round n, so each
/// call's callbacks stay in arrival order. Each round holds the members' indices.
fn rounds_by_call<'a>(members: impl Iterator<Item = (usize, &'a CallSid)>) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<&CallSid, usize> = HashMap::new();
    for (j, sid) in members {
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
        let rounds = rounds_by_call(sids.iter().enumerate());
        assert_eq!(rounds, vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
    }

    #[test]
    fn distinct_calls_make_one_round() {
        let sids = [sid(1), sid(2), sid(3)];
        assert_eq!(rounds_by_call(sids.iter().enumerate()), vec![vec![0, 1, 2]]);
    }
}
