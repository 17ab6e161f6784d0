//! What reconciliation with Twilio's call log reads and records: the numbers to ask about,
//! whether a session already has its final status, the runs, and the lock that lets one
//! process reconcile at a time.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::error::{Context as _, Result};
use crate::domain::{CallSid, E164};

/// An arbitrary constant naming calltrack's reconciliation lock among advisory locks.
pub const LOCK_KEY: i64 = 0x6361_6c6c_7472_6b02;

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// The run `serve` makes on start.
    Serve,
    /// `calltrack reconcile --since`.
    Cli,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::Cli => "cli",
        }
    }
}

/// What a finished run counted, as stored on its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub calls_seen: i32,
    pub sessions_created: i32,
    pub statuses_completed: i32,
    pub children_applied: i32,
}

/// Takes the session-level reconciliation lock without waiting; false when another
/// connection holds it. The lock lasts until [`unlock`] or the connection's end.
pub async fn try_lock(client: &impl GenericClient) -> Result<bool> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .context("taking the reconciliation lock failed")?;
    Ok(row.get(0))
}

/// Releases the lock [`try_lock`] took on this connection.
pub async fn unlock(client: &impl GenericClient) -> Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .context("releasing the reconciliation lock failed")?;
    Ok(())
}

/// The tracked numbers whose calls may need reconciling: every distinct number, active or
/// not (a switched-off number's sessions may still lack their final status), except those
/// released before `since`, which took no calls in the window.
pub async fn numbers_to_reconcile(
    client: &impl GenericClient,
    since: DateTime<Utc>,
) -> Result<Vec<E164>> {
    let rows = client
        .query(
            "SELECT DISTINCT phone_number FROM tracked_phone_numbers
             WHERE released_at IS NULL OR released_at >= $1
             ORDER BY phone_number",
            &[&since],
        )
        .await
        .context("listing the tracked numbers to reconcile failed")?;
    // The column's CHECK keeps it E.164; a row that still fails to parse cannot be asked for.
    Ok(rows
        .iter()
        .filter_map(|row| E164::parse(row.get::<_, &str>(0)).ok())
        .collect())
}

/// Whether the session of `call_sid` has its final status: `None` when there is no session.
pub async fn session_is_final(
    client: &impl GenericClient,
    call_sid: &CallSid,
) -> Result<Option<bool>> {
    let row = client
        .query_opt(
            "SELECT status_rank >= 4 FROM call_sessions WHERE twilio_call_sid = $1",
            &[&call_sid.as_str()],
        )
        .await
        .context("reading a session's status failed")?;
    Ok(row.map(|row| row.get(0)))
}

/// Where the last finished run of `kind` ended its window, if one ever finished.
pub async fn last_window_end(
    client: &impl GenericClient,
    kind: RunKind,
) -> Result<Option<DateTime<Utc>>> {
    let row = client
        .query_one(
            "SELECT max(window_end) FROM reconcile_runs
             WHERE kind = $1 AND finished_at IS NOT NULL",
            &[&kind.as_str()],
        )
        .await
        .context("reading the last reconciliation run failed")?;
    Ok(row.get(0))
}

/// Records the start of a run over `[since, until)`; returns its id.
pub async fn start_run(
    client: &impl GenericClient,
    kind: RunKind,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<i64> {
    let row = client
        .query_one(
            "INSERT INTO reconcile_runs (kind, window_start, window_end)
             VALUES ($1, $2, $3) RETURNING id",
            &[&kind.as_str(), &since, &until],
        )
        .await
        .context("recording a reconciliation run failed")?;
    Ok(row.get(0))
}

/// Marks a run finished with what it counted.
pub async fn finish_run(client: &impl GenericClient, id: i64, counts: &RunCounts) -> Result<()> {
    client
        .execute(
            "UPDATE reconcile_runs SET finished_at = now(), calls_seen = $2,
                sessions_created = $3, statuses_completed = $4, children_applied = $5
             WHERE id = $1",
            &[
                &id,
                &counts.calls_seen,
                &counts.sessions_created,
                &counts.statuses_completed,
                &counts.children_applied,
            ],
        )
        .await
        .context("recording the end of a reconciliation run failed")?;
    Ok(())
}

/// Keeps why a run failed; it stays unfinished, so the next start-up run covers its window.
pub async fn fail_run(client: &impl GenericClient, id: i64, error: &str) -> Result<()> {
    client
        .execute(
            "UPDATE reconcile_runs SET error = $2 WHERE id = $1",
            &[&id, &error],
        )
        .await
        .context("recording a failed reconciliation run failed")?;
    Ok(())
}
