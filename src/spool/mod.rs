//! The fail-open journal: webhooks the database could not take in time are appended here,
//! fsynced before Twilio is answered, and later replayed into the database and discarded.
//!
//! Layout: `<dir>/segment-<20-digit sequence>.spool`, each a run of frames: a magic, the
//! payload's length and CRC32, then the payload, the JSON of one [`Record`].
//! One thread writes; [`Spool::seal`] closes the segment being written and hands every closed
//! segment to the replay, which reads it with [`Segment::records`] and deletes it with
//! [`Segment::remove`] once applied.
//!
//! Why a record is either wholly there or detected: an append is acknowledged only after its
//! frame (and, for a new file, the directory entry) is fsynced, so an acknowledged record
//! survives a crash. Frames are only ever appended, never rewritten, so a crash can damage
//! only the unacknowledged end of the newest file. Each frame states its length and the CRC32
//! of its payload: a frame cut short runs past the end of the file, and one with damaged bytes
//! fails its CRC, so neither decodes as some other record. After a bad frame the reader scans
//! for the next magic, which cannot occur inside a JSON payload, so the damage costs only that
//! frame. [`Spool::open`] cuts a torn tail off the newest segment so the journal reads as good
//! frames up to the next append. The converse does not hold: a batch that was written but not
//! yet acknowledged when the process died may still be replayed, so replay stays idempotent on
//! the webhook's own keys, and [`Record::id`] only guards against replaying a record twice.

mod error;
mod frame;
mod record;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions, TryLockError};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{self, JoinHandle};

use tokio::sync::oneshot;

pub use error::SpoolError;
pub use record::{Record, RecordKind};
pub use segment::Segment;

use writer::{Command, Writer};

/// Held with an exclusive `flock` while a spool has the directory open.
const LOCK_FILE: &str = "spool.lock";

/// The journal. Cheap to clone; every clone appends to the same files. When the last clone is
/// dropped the writer thread finishes what was queued and exits (the drop waits for it).
#[derive(Debug, Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    // Declared after `writer`: the lock is released only once the thread has exited.
    _lock: File,
}

/// What the handles, the segments and the writer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    dir: PathBuf,
    depth: AtomicU64,
    skipped: AtomicU64,
    fsyncs: AtomicU64,
    /// Closed segments not yet removed: sequence to the records counted in it.
    closed: Mutex<BTreeMap<u64, u64>>,
    #[cfg(test)]
    sent: AtomicU64,
}

impl Shared {
    fn closed(&self) -> MutexGuard<'_, BTreeMap<u64, u64>> {
        // The map is updated by single inserts and removes, so it is consistent even if a
        // holder panicked.
        self.closed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_skipped(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.skipped.fetch_add(n, Ordering::Relaxed);
    }

    fn add_closed(&self, seq: u64, count: u64) {
        self.closed().insert(seq, count);
    }

    /// Drops a removed segment from the books; lowers the depth once per segment.
    fn forget(&self, seq: u64) {
        if let Some(count) = self.closed().remove(&seq) {
            let _ = self
                .depth
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d.saturating_sub(count))
                });
        }
    }

    fn closed_segments(self: &Arc<Self>) -> Vec<Segment> {
        self.closed()
            .keys()
            .map(|&seq| Segment {
                seq,
                path: self.dir.join(segment::file_name(seq)),
                shared: Arc::clone(self),
            })
            .collect()
    }
}

impl Spool {
    /// Opens (creating) the directory with mode 0700 and takes its lock; counts the good
    /// records of the segments already there; cuts a torn tail off the newest segment so the
    /// journal ends on a good frame; removes empty segment files; starts the writer thread.
    /// Appends go to a new segment numbered one past the highest found. Blocking file I/O:
    /// meant for startup.
    ///
    /// # Errors
    /// [`SpoolError::Locked`] if another spool has the directory open, [`SpoolError::Io`] if
    /// the directory or a segment cannot be created, read or cut.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| SpoolError::io("create", dir, e))?;
        // The journal holds callers' phone numbers: tighten a directory made by someone else.
        fs::set_permissions(dir, Permissions::from_mode(0o700))
            .map_err(|e| SpoolError::io("restrict", dir, e))?;
        let lock = lock(dir)?;

        let found = segment::list(dir)?;
        let next_seq = found.last().map_or(1, |(seq, _)| seq.saturating_add(1));
        let newest = found.last().map(|(seq, _)| *seq);
        let mut closed = BTreeMap::new();
        let mut skipped = 0;
        for (seq, path) in found {
            let (mut file_len, scan) = segment::read(&path)?;
            if Some(seq) == newest && scan.good_end < file_len {
                cut(&path, scan.good_end)?;
                tracing::warn!(
                    path = %path.display(),
                    offset = scan.good_end,
                    bytes = file_len - scan.good_end,
                    "spool: cut a torn tail off the newest segment"
                );
                skipped += 1;
                file_len = scan.good_end;
            }
            if file_len == 0 {
                fs::remove_file(&path).map_err(|e| SpoolError::io("remove", &path, e))?;
                segment::sync_dir(dir)
                    .map_err(|e| SpoolError::io("fsync the directory", dir, e))?;
                continue;
            }
            closed.insert(seq, u64::try_from(scan.records.len()).unwrap_or(u64::MAX));
        }
        let depth = closed.values().sum();
        tracing::info!(
            dir = %dir.display(),
            segments = closed.len(),
            depth,
            next_segment = next_seq,
            "spool: opened"
        );

        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            depth: AtomicU64::new(depth),
            skipped: AtomicU64::new(skipped),
            fsyncs: AtomicU64::new(0),
            closed: Mutex::new(closed),
            #[cfg(test)]
            sent: AtomicU64::new(0),
        });
        let (commands, queue) = mpsc::channel();
        let writer = Writer::new(Arc::clone(&shared), next_seq);
        let writer = thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| SpoolError::io("start the writer thread for", dir, e))?;
        Ok(Spool {
            inner: Arc::new(Inner {
                commands: Some(commands),
                writer: Some(writer),
                shared,
                _lock: lock,
            }),
        })
    }

    /// Appends `record` and returns only once its bytes are fsynced. Appends from many tasks
    /// at once share one fsync. Does not block the runtime. A future dropped after its first
    /// poll may still have its record written.
    ///
    /// # Errors
    /// [`SpoolError::Encode`] or [`SpoolError::TooLarge`] for a record that cannot be framed;
    /// [`SpoolError::Io`] if the write or fsync failed (the record is then not acknowledged,
    /// and is cut back from the file where possible); [`SpoolError::Closed`] if the writer
    /// thread is gone.
    pub async fn append(&self, record: &Record) -> Result<(), SpoolError> {
        let frame = frame::encode(record)?;
        let (ack, done) = oneshot::channel();
        self.inner.send(Command::Append { frame, ack })?;
        #[cfg(test)]
        self.inner.shared.sent.fetch_add(1, Ordering::Relaxed);
        done.await.map_err(|_| SpoolError::Closed)?
    }

    /// Records on disk not yet removed (appended and acknowledged, or found at open, minus
    /// those of removed segments), for the metrics gauge.
    pub fn depth(&self) -> u64 {
        self.inner.shared.depth.load(Ordering::Relaxed)
    }

    /// Closes the segment being written, if it holds any record, after every append queued
    /// before this call; returns every closed segment not yet removed, oldest first. New
    /// appends go to a fresh segment. A segment returned by an earlier seal and not yet
    /// removed is returned again.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] if the writer thread is gone.
    pub async fn seal(&self) -> Result<Vec<Segment>, SpoolError> {
        let (ack, done) = oneshot::channel();
        self.inner.send(Command::Seal { ack })?;
        done.await.map_err(|_| SpoolError::Closed)?;
        Ok(self.inner.shared.closed_segments())
    }

    /// Damaged runs skipped since open, for a metrics counter: a torn tail cut at open, and
    /// each torn or corrupt run met by [`Segment::records`] (each time a segment is read).
    pub fn skipped(&self) -> u64 {
        self.inner.shared.skipped.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn send(&self, command: Command) -> Result<(), SpoolError> {
        self.commands
            .as_ref()
            .ok_or(SpoolError::Closed)?
            .send(command)
            .map_err(|_| SpoolError::Closed)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the thread drain what is queued and return.
        self.commands = None;
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("spool: the writer thread panicked");
        }
    }
}

/// Takes the directory's lock, so two spools never write the same sequence numbers.
fn lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| SpoolError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(SpoolError::Locked {
            path: dir.to_owned(),
        }),
        Err(TryLockError::Error(e)) => Err(SpoolError::io("lock", &path, e)),
    }
}

/// Cuts `path` to `len` bytes, durably.
fn cut(path: &Path, len: usize) -> Result<(), SpoolError> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| {
            file.set_len(len)?;
            file.sync_all()
        })
        .map_err(|e| SpoolError::io("cut the torn tail of", path, e))
}

#[cfg(test)]
impl Spool {
    /// Fsyncs the writer thread has issued since open.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.inner.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// Appends handed to the writer thread since open.
    pub(crate) fn sent(&self) -> u64 {
        self.inner.shared.sent.load(Ordering::Relaxed)
    }

    /// Parks the writer thread until the returned sender is dropped.
    pub(crate) fn hold_writer(&self) -> Result<mpsc::Sender<()>, SpoolError> {
        let (release, held) = mpsc::channel();
        self.inner.send(Command::Hold(held))?;
        Ok(release)
    }
}
