//! Callbacks that arrived before their session: parked here until the session exists.
//!
//! A status or recording callback can outrun its session when the voice webhook went to a
//! spool (this instance's or another's) or is still being written. The callback is parked,
//! and whoever creates the session applies what is parked for its CallSid. Both sides look
//! again after their own write is committed (a replay, whose writes commit together, looks
//! once more after its commit), so one of them always sees the other: a parked callback is
//! never stranded. A parked callback is removed only after it was applied, and applying one
//! twice changes nothing.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::calls::{CallProgress, Recording};
use super::error::{Context as _, Result};
use crate::domain::{CallSid, CallStatus};

/// A parked callback, owned, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkedCallback {
    Progress(CallProgress),
    Recording(OwnedRecording),
    Voicemail(OwnedRecording),
}

/// A recording as parked (the live type borrows from the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecording {
    pub sid: String,
    pub url: String,
    pub duration_seconds: Option<i32>,
    pub status: String,
}

impl OwnedRecording {
    pub fn as_recording(&self) -> Recording<'_> {
        Recording {
            sid: &self.sid,
            url: &self.url,
            duration_seconds: self.duration_seconds,
            status: &self.status,
        }
    }
}

/// Parks a status or dial callback's progress; returns its id.
pub async fn park_progress(
    client: &impl GenericClient,
    call_sid: &CallSid,
    progress: &CallProgress,
) -> Result<i64> {
    let row = client
        .query_one(
            "INSERT INTO call_callbacks_parked (call_sid, kind, call_status, answered_at,
                ended_at, duration_seconds, talk_seconds, leg_status, accepted_at)
             VALUES ($1, 'progress', $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &call_sid.as_str(),
                &progress.status.map(CallStatus::as_str),
                &progress.answered_at,
                &progress.ended_at,
                &progress.duration_seconds,
                &progress.talk_seconds,
                &progress.leg_status.map(CallStatus::as_str),
                &progress.accepted_at,
            ],
        )
        .await
        .context("parking a call callback failed")?;
    Ok(row.get(0))
}

/// Parks a recording callback; returns its id.
pub async fn park_recording(
    client: &impl GenericClient,
    call_sid: &CallSid,
    recording: &Recording<'_>,
) -> Result<i64> {
    park_a_recording(client, call_sid, "recording", recording).await
}

/// Parks a voicemail's recording callback; returns its id.
pub async fn park_voicemail(
    client: &impl GenericClient,
    call_sid: &CallSid,
    recording: &Recording<'_>,
) -> Result<i64> {
    park_a_recording(client, call_sid, "voicemail", recording).await
}

async fn park_a_recording(
    client: &impl GenericClient,
    call_sid: &CallSid,
    kind: &str,
    recording: &Recording<'_>,
) -> Result<i64> {
    let row = client
        .query_one(
            "INSERT INTO call_callbacks_parked (call_sid, kind, recording_sid, recording_url,
                recording_duration, recording_status)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &call_sid.as_str(),
                &kind,
                &recording.sid,
                &recording.url,
                &recording.duration_seconds,
                &recording.status,
            ],
        )
        .await
        .context("parking a recording callback failed")?;
    Ok(row.get(0))
}

/// Removes one parked callback (it was applied after all).
pub async fn unpark(client: &impl GenericClient, id: i64) -> Result<()> {
    client
        .execute("DELETE FROM call_callbacks_parked WHERE id = $1", &[&id])
        .await
        .context("removing a parked callback failed")?;
    Ok(())
}

/// Every callback parked for `call_sid`, oldest first, with its id. They stay parked until
/// [`remove`]d: whoever applies them removes them only after applying, so a failure between
/// the two leaves them to be applied again (applying one twice changes nothing) rather than
/// lost.
pub async fn waiting(
    client: &impl GenericClient,
    call_sid: &CallSid,
) -> Result<Vec<(i64, ParkedCallback)>> {
    let statement = client
        .prepare_cached(
            "SELECT id, kind, call_status, answered_at, ended_at, duration_seconds,
                talk_seconds, leg_status, accepted_at, recording_sid, recording_url,
                recording_duration, recording_status
             FROM call_callbacks_parked WHERE call_sid = $1 ORDER BY id",
        )
        .await?;
    let rows = client
        .query(&statement, &[&call_sid.as_str()])
        .await
        .context("reading parked callbacks failed")?;
    rows.iter()
        .map(|row| {
            let id = row.get::<_, i64>("id");
            let kind: &str = row.get("kind");
            if kind == "recording" || kind == "voicemail" {
                let recording = OwnedRecording {
                    sid: row.get("recording_sid"),
                    url: row.get("recording_url"),
                    duration_seconds: row.get("recording_duration"),
                    status: row.get("recording_status"),
                };
                return Ok((
                    id,
                    if kind == "voicemail" {
                        ParkedCallback::Voicemail(recording)
                    } else {
                        ParkedCallback::Recording(recording)
                    },
                ));
            }
            let status_of = |column: &str| {
                row.get::<_, Option<&str>>(column)
                    .map(CallStatus::parse)
                    .transpose()
                    .map_err(|e| {
                        super::Error::invariant(
                            "a parked callback holds an unknown status",
                            e.to_string(),
                        )
                    })
            };
            Ok((
                id,
                ParkedCallback::Progress(CallProgress {
                    status: status_of("call_status")?,
                    leg_status: status_of("leg_status")?,
                    accepted_at: row.get("accepted_at"),
                    answered_at: row.get("answered_at"),
                    ended_at: row.get("ended_at"),
                    duration_seconds: row.get("duration_seconds"),
                    talk_seconds: row.get("talk_seconds"),
                }),
            ))
        })
        .collect()
}

/// Removes parked callbacks that were applied.
pub async fn remove(client: &impl GenericClient, ids: &[i64]) -> Result<()> {
    client
        .execute(
            "DELETE FROM call_callbacks_parked WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .context("removing applied parked callbacks failed")?;
    Ok(())
}

/// Deletes callbacks parked before `before`: their call never reached calltrack.
pub async fn prune(client: &impl GenericClient, before: DateTime<Utc>) -> Result<u64> {
    client
        .execute(
            "DELETE FROM call_callbacks_parked WHERE parked_at < $1",
            &[&before],
        )
        .await
        .context("pruning parked callbacks failed")
}

const ANY_WAITING: &str =
    "SELECT DISTINCT call_sid FROM call_callbacks_parked WHERE call_sid = ANY($1)";

/// Prepares [`any_waiting`]'s statement on this connection (once; then it is cached), so
/// that the look can be pipelined ([`super::pipeline`]).
pub async fn prepare_any_waiting(client: &impl GenericClient) -> Result<()> {
    client.prepare_cached(ANY_WAITING).await?;
    Ok(())
}

/// Which of `call_sids` have callbacks parked for them: one look for a whole batch of new
/// sessions, after their commit.
pub async fn any_waiting(client: &impl GenericClient, call_sids: &[&str]) -> Result<Vec<String>> {
    let statement = client.prepare_cached(ANY_WAITING).await?;
    let rows = client
        .query(&statement, &[&call_sids])
        .await
        .context("looking for parked callbacks failed")?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
