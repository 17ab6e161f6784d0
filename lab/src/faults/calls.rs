//! Scripted calls (every webhook Twilio sends for one call), playing them against one or
//! more instances, and the audit of the database against what the client saw answered.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{FaultError, Result};
use calltrack::commands::simulate::Target;
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};

/// How long the client waits for one answer before it counts the webhook unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook a step goes to, for grouping answer times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Webhook {
    Voice,
    Status,
    Dial,
    Recording,
}

impl Webhook {
    pub const ALL: [Webhook; 4] = [Self::Voice, Self::Status, Self::Dial, Self::Recording];

    pub fn path(self) -> &'static str {
        match self {
            Self::Voice => "/twilio/voice",
            Self::Status => "/twilio/status",
            Self::Dial => "/twilio/dial-complete",
            Self::Recording => "/twilio/recording",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Status => "status",
            Self::Dial => "dial",
            Self::Recording => "recording",
        }
    }
}

/// One webhook of a call, in the order Twilio sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    Voice,
    ChildInitiated,
    ChildRinging,
    ChildAnswered,
    ChildCompleted,
    ChildNoAnswer,
    Dial,
    Recording,
    ParentCompleted,
}

impl StepKind {
    pub fn webhook(self) -> Webhook {
        match self {
            Self::Voice => Webhook::Voice,
            Self::Dial => Webhook::Dial,
            Self::Recording => Webhook::Recording,
            Self::ChildInitiated
            | Self::ChildRinging
            | Self::ChildAnswered
            | Self::ChildCompleted
            | Self::ChildNoAnswer
            | Self::ParentCompleted => Webhook::Status,
        }
    }
}

/// One webhook to send `at` after the call began.
#[derive(Debug, Clone)]
pub struct Step {
    pub kind: StepKind,
    pub at: Duration,
    pub form: FormPairs,
}

/// A whole call as Twilio plays it: the forwarded leg rings for `ring_seconds`, then is
/// answered and talks for `talk_seconds` (recorded), or is never answered.
#[derive(Debug, Clone)]
pub struct CallPlan {
    pub call: SimulatedCall,
    pub answered: bool,
    pub talk_seconds: u32,
    /// The parent's `CallDuration`.
    pub total_seconds: u32,
    pub steps: Vec<Step>,
}

impl CallPlan {
    /// A call the business answers: initiated, ringing, answered and completed callbacks of
    /// the forwarded leg, the dial action, the parent's completed status, then the recording.
    pub fn answered(call: SimulatedCall, ring_seconds: u32, talk_seconds: u32) -> Self {
        let started = Utc::now();
        let at = |s: f64| stamp(started, s);
        let (ring, talk) = (f64::from(ring_seconds), f64::from(talk_seconds));
        let end = ring + talk;
        let total_seconds = ring_seconds + talk_seconds + 1;
        let steps = vec![
            step(StepKind::Voice, 0.0, call.voice()),
            step(
                StepKind::ChildInitiated,
                0.1,
                call.child_status(Fixture::StatusChildInitiated, at(0.1)),
            ),
            step(
                StepKind::ChildRinging,
                0.3,
                call.child_status(Fixture::StatusChildRinging, at(0.3)),
            ),
            step(
                StepKind::ChildAnswered,
                ring,
                call.child_status(Fixture::StatusChildAnswered, at(ring)),
            ),
            step(
                StepKind::ChildCompleted,
                end,
                call.child_completed(talk_seconds, at(end)),
            ),
            step(
                StepKind::Dial,
                end + 0.05,
                call.dial_action("completed", talk_seconds, true),
            ),
            step(
                StepKind::ParentCompleted,
                end + 0.2,
                call.parent_completed(total_seconds, at(end + 1.0)),
            ),
            step(
                StepKind::Recording,
                end + 1.0,
                call.recording(talk_seconds.saturating_sub(1)),
            ),
        ];
        Self {
            call,
            answered: true,
            talk_seconds,
            total_seconds,
            steps,
        }
    }

    /// A call the business never answers: the forwarded leg rings out after `ring_seconds`.
    pub fn missed(call: SimulatedCall, ring_seconds: u32) -> Self {
        let started = Utc::now();
        let at = |s: f64| stamp(started, s);
        let ring = f64::from(ring_seconds);
        let steps = vec![
            step(StepKind::Voice, 0.0, call.voice()),
            step(
                StepKind::ChildInitiated,
                0.1,
                call.child_status(Fixture::StatusChildInitiated, at(0.1)),
            ),
            step(
                StepKind::ChildRinging,
                0.3,
                call.child_status(Fixture::StatusChildRinging, at(0.3)),
            ),
            step(
                StepKind::ChildNoAnswer,
                ring,
                call.child_status(Fixture::StatusChildNoAnswer, at(ring)),
            ),
            step(
                StepKind::Dial,
                ring + 0.05,
                call.dial_action("no-answer", 0, false),
            ),
            step(
                StepKind::ParentCompleted,
                ring + 0.2,
                call.parent_completed(ring_seconds, at(ring)),
            ),
        ];
        Self {
            call,
            answered: false,
            talk_seconds: 0,
            total_seconds: ring_seconds,
            steps,
        }
    }

    /// An empty record of this call, for its answers to be noted in.
    pub fn record(&self) -> PlayedCall {
        PlayedCall {
            call_sid: self.call.call_sid.clone(),
            recording_sid: self.call.recording_sid.clone(),
            answered: self.answered,
            talk_seconds: self.talk_seconds,
            total_seconds: self.total_seconds,
            acked: BTreeSet::new(),
        }
    }

    /// Sends every step at once, one after the other (ignoring their times), each to the
    /// next instance of `targets`; returns what was answered.
    pub async fn play(
        &self,
        http: &reqwest::Client,
        targets: &RoundRobin,
    ) -> (PlayedCall, Vec<Answer>) {
        let mut record = self.record();
        let mut answers = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let answer = send_step(http, targets.pick(), step, &self.call.forward_to).await;
            record.note(&answer);
            answers.push(answer);
        }
        (record, answers)
    }
}

fn step(kind: StepKind, at_seconds: f64, form: FormPairs) -> Step {
    Step {
        kind,
        at: Duration::from_secs_f64(at_seconds),
        form,
    }
}

fn stamp(started: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let millis = (seconds * 1000.0) as i64;
    started + chrono::Duration::milliseconds(millis)
}

/// How one webhook was answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub kind: StepKind,
    /// `None` when no answer came (refused, reset, or past the client's timeout).
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// Answered as Twilio needs: `2xx`, and for the voice webhook a `<Dial>` to the
    /// business's number.
    pub acked: bool,
    /// What was wrong, when it was not acked.
    pub problem: Option<String>,
}

/// Sends one step to `target`, signed, and judges its answer; never fails (a failure is an
/// unacked answer).
pub async fn send_step(
    http: &reqwest::Client,
    target: &Target,
    step: &Step,
    forward_to: &str,
) -> Answer {
    let started = Instant::now();
    let sent = target
        .signed_post(http, step.kind.webhook().path(), &step.form)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    let (status, body) = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.text().await)
        }
        Err(error) => (None, Err(error)),
    };
    let elapsed = started.elapsed();
    let problem = match (status, &body) {
        (None, Err(error)) => Some(format!("no answer: {error}")),
        (Some(status), _) if !(200..300).contains(&status) => Some(format!("answered {status}")),
        (Some(_), Err(error)) => Some(format!("body unreadable: {error}")),
        (Some(_), Ok(twiml)) if step.kind == StepKind::Voice => {
            let dial = format!(">{forward_to}</Number>");
            (!(twiml.contains("<Dial") && twiml.contains(&dial)))
                .then(|| format!("not forwarded to {forward_to}: {twiml}"))
        }
        _ => None,
    };
    Answer {
        kind: step.kind,
        status,
        elapsed,
        acked: problem.is_none(),
        problem,
    }
}

/// Alternates requests over several instances, as a round-robin load balancer does: the
/// callbacks of one call land on different instances.
#[derive(Debug)]
pub struct RoundRobin {
    targets: Vec<Target>,
    next: AtomicUsize,
}

impl RoundRobin {
    /// Over `targets`; `None` when there is none.
    pub fn new(targets: Vec<Target>) -> Option<Self> {
        (!targets.is_empty()).then(|| Self {
            targets,
            next: AtomicUsize::new(0),
        })
    }

    pub fn pick(&self) -> &Target {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.targets[i % self.targets.len()]
    }
}

/// What the client knows of one call: what it played and which webhooks were answered.
#[derive(Debug, Clone)]
pub struct PlayedCall {
    pub call_sid: String,
    pub recording_sid: String,
    pub answered: bool,
    pub talk_seconds: u32,
    pub total_seconds: u32,
    pub acked: BTreeSet<StepKind>,
}

impl PlayedCall {
    pub fn note(&mut self, answer: &Answer) {
        if answer.acked {
            self.acked.insert(answer.kind);
        }
    }

    fn acked(&self, kind: StepKind) -> bool {
        self.acked.contains(&kind)
    }

    /// The final status the acked callbacks must leave, if they settle it.
    fn expected_status(&self) -> Option<&'static str> {
        if self.answered {
            [
                StepKind::ChildCompleted,
                StepKind::Dial,
                StepKind::ParentCompleted,
            ]
            .iter()
            .any(|k| self.acked(*k))
            .then_some("completed")
        } else if self.acked(StepKind::ChildNoAnswer) || self.acked(StepKind::Dial) {
            Some("no-answer")
        } else {
            self.acked(StepKind::ParentCompleted).then_some("completed")
        }
    }
}

/// The database against the client's records: everything the client saw answered must be
/// there exactly once.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// Calls whose voice webhook was answered with a `<Dial>`.
    pub calls: usize,
    pub sessions_missing: usize,
    pub sessions_duplicated: usize,
    pub call_events_missing: usize,
    pub call_events_duplicated: usize,
    /// Sessions whose status is not the final one the acked callbacks settle.
    pub statuses_wrong: usize,
    /// Sessions whose call duration or talk time differ from the acked callbacks'.
    pub durations_wrong: usize,
    /// Acked recording callbacks whose recording is not on the session.
    pub recordings_missing: usize,
    /// Callbacks of these calls still parked (their session exists, so none should be).
    pub parked_left: i64,
    /// A few of the discrepancies, for the reader.
    pub examples: Vec<String>,
}

impl Audit {
    /// What the client saw answered and the database does not hold.
    pub fn lost(&self) -> usize {
        self.sessions_missing
            + self.call_events_missing
            + self.statuses_wrong
            + self.durations_wrong
            + self.recordings_missing
            + usize::try_from(self.parked_left).unwrap_or(0)
    }

    /// What the database holds more than once.
    pub fn duplicated(&self) -> usize {
        self.sessions_duplicated + self.call_events_duplicated
    }

    pub fn is_clean(&self) -> bool {
        self.lost() == 0 && self.duplicated() == 0
    }

    fn flag(&mut self, what: String) {
        if self.examples.len() < 10 {
            self.examples.push(what);
        }
    }
}

impl std::fmt::Display for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} calls: sessions missing {}, duplicated {}; call events missing {}, duplicated {}; \
             statuses wrong {}; durations wrong {}; recordings missing {}; callbacks still parked {}",
            self.calls,
            self.sessions_missing,
            self.sessions_duplicated,
            self.call_events_missing,
            self.call_events_duplicated,
            self.statuses_wrong,
            self.durations_wrong,
            self.recordings_missing,
            self.parked_left
        )?;
        for example in &self.examples {
            write!(f, "\n  {example}")?;
        }
        Ok(())
    }
}

/// One session as the audit reads it.
struct SessionRow {
    count: i64,
    status: String,
    duration: Option<i32>,
    talk: Option<i32>,
    recording_sid: Option<String>,
    answered_at: bool,
}

/// Audits `records` against the database `client` is connected to.
pub async fn audit(client: &tokio_postgres::Client, records: &[PlayedCall]) -> Result<Audit> {
    let records: Vec<&PlayedCall> = records
        .iter()
        .filter(|r| r.acked(StepKind::Voice))
        .collect();
    let sids: Vec<&str> = records.iter().map(|r| r.call_sid.as_str()).collect();
    let sessions: HashMap<String, SessionRow> = client
        .query(
            "SELECT twilio_call_sid, count(*), max(call_status), max(call_duration_seconds),
                max(talk_seconds), max(recording_sid), bool_or(call_answered_at IS NOT NULL)
             FROM call_sessions WHERE twilio_call_sid = ANY($1) GROUP BY 1",
            &[&sids],
        )
        .await
        .map_err(FaultError::db("reading the sessions failed"))?
        .iter()
        .map(|row| {
            (
                row.get(0),
                SessionRow {
                    count: row.get(1),
                    status: row.get(2),
                    duration: row.get(3),
                    talk: row.get(4),
                    recording_sid: row.get(5),
                    answered_at: row.get(6),
                },
            )
        })
        .collect();
    let events: HashMap<String, i64> = client
        .query(
            "SELECT event_data->>'call_sid', count(*) FROM events
             WHERE event_type = 'call' AND event_data->>'call_sid' = ANY($1) GROUP BY 1",
            &[&sids],
        )
        .await
        .map_err(FaultError::db("reading the call events failed"))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let parked_left: i64 = client
        .query_one(
            "SELECT count(*) FROM call_callbacks_parked WHERE call_sid = ANY($1)",
            &[&sids],
        )
        .await
        .map_err(FaultError::db("reading the parked callbacks failed"))?
        .get(0);

    let mut audit = Audit {
        calls: records.len(),
        parked_left,
        ..Audit::default()
    };
    if parked_left > 0 {
        audit.flag(format!("{parked_left} callbacks still parked"));
    }
    for record in records {
        let sid = &record.call_sid;
        match events.get(sid).copied().unwrap_or(0) {
            0 => {
                audit.call_events_missing += 1;
                audit.flag(format!("{sid}: no call event"));
            }
            1 => {}
            n => {
                audit.call_events_duplicated += 1;
                audit.flag(format!("{sid}: {n} call events"));
            }
        }
        let Some(session) = sessions.get(sid) else {
            audit.sessions_missing += 1;
            audit.flag(format!("{sid}: no session"));
            continue;
        };
        if session.count > 1 {
            audit.sessions_duplicated += 1;
            audit.flag(format!("{sid}: {} sessions", session.count));
        }
        if let Some(expected) = record.expected_status()
            && session.status != expected
        {
            audit.statuses_wrong += 1;
            audit.flag(format!("{sid}: status {}, not {expected}", session.status));
        }
        let total = i32::try_from(record.total_seconds).ok();
        let talk = i32::try_from(record.talk_seconds).ok();
        let duration_wrong = record.acked(StepKind::ParentCompleted) && session.duration != total;
        let talk_wrong = record.answered
            && (record.acked(StepKind::ChildCompleted) || record.acked(StepKind::Dial))
            && (session.talk != talk || !session.answered_at);
        if duration_wrong || talk_wrong {
            audit.durations_wrong += 1;
            audit.flag(format!(
                "{sid}: duration {:?} talk {:?} answered {}, expected {total:?} {talk:?}",
                session.duration, session.talk, session.answered_at
            ));
        }
        if record.acked(StepKind::Recording)
            && session.recording_sid.as_deref() != Some(record.recording_sid.as_str())
        {
            audit.recordings_missing += 1;
            audit.flag(format!(
                "{sid}: recording {:?} missing",
                record.recording_sid
            ));
        }
    }
    Ok(audit)
}

/// Audits until the database is complete or `within` has passed; returns the last audit.
pub async fn audit_until_clean(
    client: &tokio_postgres::Client,
    records: &[PlayedCall],
    within: Duration,
) -> Result<Audit> {
    let until = Instant::now() + within;
    loop {
        let audit = audit(client, records).await?;
        if audit.is_clean() || Instant::now() > until {
            return Ok(audit);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
