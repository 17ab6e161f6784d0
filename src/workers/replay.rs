//! Replays the spool into the database once it answers: oldest segment first, each record in
//! arrival order, each exactly once (see [`crate::app::replay::replay`]); a segment is removed
//! once every record in it was applied.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;

use crate::app::replay::{self, Replayed};
use crate::db::{self, PgPool};
use crate::spool::{Record, Spool};

/// How often an empty spool is looked at.
pub const IDLE_INTERVAL: Duration = Duration::from_millis(500);
/// The longest wait between attempts while the database is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Attempts at a record that fails for a reason other than the database being away, before
/// it is set aside in the dead-letter file so it cannot hold back the records behind it.
const ATTEMPTS_BEFORE_SETTING_ASIDE: u32 = 5;
/// How long one record's replay may take; a frozen database must not hold the worker (or a
/// graceful stop) forever.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often parked callbacks and old markers are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

pub struct ReplayWorker {
    pub pool: PgPool,
    pub spool: Spool,
    /// Where records that kept failing are kept for an operator (JSON lines).
    pub dead_letter: PathBuf,
}

impl ReplayWorker {
    /// Replays until `stop` turns true; a record being applied when it does is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut last_prune: Option<Instant> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            if self.spool.depth() > 0 && self.drain(&mut stop).await.is_err() {
                return;
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) && self.prune().await {
                last_prune = Some(Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(IDLE_INTERVAL) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Applies every sealed segment, oldest first.
    async fn drain(&self, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        let segments = match self.spool.seal().await {
            Ok(segments) => segments,
            Err(error) => {
                tracing::error!(%error, "cannot seal the spool for replay");
                return Ok(());
            }
        };
        for segment in segments {
            let read = tokio::task::spawn_blocking(move || {
                let records = segment.records();
                (segment, records)
            })
            .await;
            let Ok((segment, records)) = read else {
                tracing::error!("reading a spool segment panicked");
                return Ok(());
            };
            let records = match records {
                Ok(records) => records,
                Err(error) => {
                    tracing::error!(%error, path = %segment.path().display(), "cannot read a spool segment; will try again");
                    return Ok(());
                }
            };
            let count = records.len();
            for record in &records {
                self.apply(record, stop).await?;
            }
            if let Err(error) = segment.remove() {
                // Its records stay marked applied, so reading it again only skips them.
                tracing::error!(%error, "cannot remove a replayed spool segment");
                return Ok(());
            }
            tracing::info!(records = count, "spool segment replayed");
        }
        crate::metrics::spool_depth(self.spool.depth());
        Ok(())
    }

    /// Applies one record, waiting out the database's absence.
    async fn apply(
        &self,
        record: &Record,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0;
        loop {
            let attempt = db::error::within(
                REPLAY_TIMEOUT,
                "replaying a spool record took too long",
                replay::replay(&self.pool, record),
            );
            match attempt.await {
                Ok(outcome) => {
                    crate::metrics::spool_replayed(match outcome {
                        Replayed::Applied => "applied",
                        Replayed::AlreadyApplied => "already_applied",
                        Replayed::Unreadable => "unreadable",
                    });
                    return Ok(());
                }
                Err(db::Error::Unavailable { .. }) => {}
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = format!("{error:#}"), failures, record.id = %record.id, "replaying a spool record failed");
                    if failures >= ATTEMPTS_BEFORE_SETTING_ASIDE {
                        self.set_aside(record);
                        return Ok(());
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return Err(Stopped);
                    }
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Keeps a record that cannot be applied in the dead-letter file, so it is neither lost
    /// nor in the way. Only a bug or a schema the record does not fit leads here.
    fn set_aside(&self, record: &Record) {
        crate::metrics::spool_replayed("set_aside");
        let written = serde_json::to_vec(record)
            .map_err(std::io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.dead_letter)?;
                file.write_all(&line)?;
                file.sync_data()
            });
        match written {
            Ok(()) => {
                tracing::error!(record.id = %record.id, path = %self.dead_letter.display(), "spool record set aside after repeated failures")
            }
            Err(error) => {
                tracing::error!(%error, record.id = %record.id, "spool record could not be set aside; it is lost")
            }
        }
    }

    /// Prunes parked callbacks whose call never came and markers no replay needs; true when done.
    async fn prune(&self) -> bool {
        let result: db::Result<(u64, u64)> = async {
            let client = self.pool.get().await?;
            let parked = db::parked::prune(&client, Utc::now() - chrono::Duration::days(1)).await?;
            let markers =
                db::spool_markers::prune(&client, Utc::now() - chrono::Duration::days(30)).await?;
            Ok((parked, markers))
        }
        .await;
        match result {
            Ok((parked, markers)) => {
                if parked + markers > 0 {
                    tracing::info!(parked, markers, "pruned parked callbacks and spool markers");
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// The worker was asked to stop.
struct Stopped;
