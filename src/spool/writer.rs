//! The one thread that writes segment files. Appends queue on a channel; the thread writes
//! everything waiting, fsyncs once for the whole batch, then acknowledges each append.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, atomic::Ordering};

use tokio::sync::oneshot;

use super::segment::{file_name, sync_dir};
use super::{Shared, SpoolError};

/// Bytes taken into one batch: bounds the memory of a batch and the latency of its first append.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// A segment at least this long is closed before the next batch, so a long outage leaves
/// files a replay can read whole.
const ROLL_BYTES: u64 = 64 << 20;

/// What the thread is asked to do, in the order asked.
pub(crate) enum Command {
    /// Write this frame; answer once it is fsynced (or failed).
    Append {
        frame: Vec<u8>,
        ack: oneshot::Sender<Result<(), SpoolError>>,
    },
    /// Close the segment being written, after everything queued before.
    Seal { ack: oneshot::Sender<()> },
    /// Park the thread until the other end is dropped, so a test can queue many appends.
    #[cfg(test)]
    Hold(Receiver<()>),
}

struct Pending {
    frame: Vec<u8>,
    ack: oneshot::Sender<Result<(), SpoolError>>,
}

/// The segment being written.
struct Current {
    seq: u64,
    path: PathBuf,
    file: File,
    /// Bytes fsynced so far; the file is cut back to this after a failed batch.
    len: u64,
    /// Records acknowledged in it.
    count: u64,
}

/// A failed batch, reported to each of its appends.
struct Failure {
    context: &'static str,
    path: PathBuf,
    source: Arc<io::Error>,
}

impl Failure {
    fn new(context: &'static str, path: &Path, source: io::Error) -> Self {
        Self {
            context,
            path: path.to_owned(),
            source: Arc::new(source),
        }
    }

    fn to_error(&self) -> SpoolError {
        SpoolError::Io {
            context: self.context,
            path: self.path.clone(),
            source: Arc::clone(&self.source),
        }
    }
}

/// State owned by the writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    current: Option<Current>,
    next_seq: u64,
}

impl Writer {
    /// A writer whose first segment will be `next_seq`.
    pub(crate) fn new(shared: Arc<Shared>, next_seq: u64) -> Self {
        Self {
            shared,
            current: None,
            next_seq,
        }
    }

    /// Serves commands until every sender is gone and the channel is drained.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let mut appends = Vec::new();
        while let Ok(first) = commands.recv() {
            let mut batch_bytes = 0;
            let mut next = Some(first);
            while let Some(command) = next {
                match command {
                    Command::Append { frame, ack } => {
                        batch_bytes += frame.len();
                        appends.push(Pending { frame, ack });
                    }
                    Command::Seal { ack } => {
                        self.flush(&mut appends);
                        self.close_current();
                        // The caller may have stopped waiting; the seal stands either way.
                        let _ = ack.send(());
                    }
                    #[cfg(test)]
                    Command::Hold(release) => {
                        self.flush(&mut appends);
                        let _ = release.recv();
                    }
                }
                next = if batch_bytes < MAX_BATCH_BYTES {
                    commands.try_recv().ok()
                } else {
                    None
                };
            }
            self.flush(&mut appends);
        }
    }

    /// Writes the waiting appends, fsyncs once, and answers each.
    fn flush(&mut self, appends: &mut Vec<Pending>) {
        if appends.is_empty() {
            return;
        }
        let batch = std::mem::take(appends);
        match self.write(&batch) {
            Ok(()) => {
                let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                self.shared.depth.fetch_add(n, Ordering::Relaxed);
                for pending in batch {
                    // A caller that stopped waiting still has its record written.
                    let _ = pending.ack.send(Ok(()));
                }
            }
            Err(failure) => {
                for pending in batch {
                    let _ = pending.ack.send(Err(failure.to_error()));
                }
            }
        }
    }

    /// Writes the batch to the segment being written (creating it if needed) and fsyncs it.
    fn write(&mut self, batch: &[Pending]) -> Result<(), Failure> {
        if self.current.as_ref().is_some_and(|c| c.len >= ROLL_BYTES) {
            self.close_current();
        }
        let mut current = match self.current.take() {
            Some(current) => current,
            None => self.create()?,
        };
        let bytes: Vec<u8> = batch.iter().flat_map(|p| p.frame.iter().copied()).collect();
        let written = current
            .file
            .write_all(&bytes)
            .map_err(|e| Failure::new("write", &current.path, e))
            .and_then(|()| {
                self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
                current
                    .file
                    .sync_data()
                    .map_err(|e| Failure::new("fsync", &current.path, e))
            });
        match written {
            Ok(()) => {
                current.len += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                current.count += u64::try_from(batch.len()).unwrap_or(u64::MAX);
                self.current = Some(current);
                Ok(())
            }
            Err(failure) => {
                // After a failed fsync the kernel may have dropped the dirty pages and will not
                // report it again, so this file is never trusted with another batch. Cutting it
                // back keeps the unacknowledged records from being replayed if that still works.
                let cut = current
                    .file
                    .set_len(current.len)
                    .and_then(|()| current.file.sync_data());
                tracing::warn!(
                    path = %current.path.display(),
                    error = %failure.source,
                    cut_back = cut.is_ok(),
                    records = batch.len(),
                    "spool: a batch failed; its segment is closed"
                );
                self.shared.add_closed(current.seq, current.count);
                Err(failure)
            }
        }
    }

    /// Creates the next segment file and makes its name durable.
    fn create(&mut self) -> Result<Current, Failure> {
        let seq = self.next_seq;
        // Every attempt takes a new number, so a stray file with this name is never reused.
        self.next_seq = seq.saturating_add(1);
        let path = self.shared.dir.join(file_name(seq));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Failure::new("create", &path, e))?;
        if let Err(e) = sync_dir(&self.shared.dir) {
            drop(file);
            // Best effort: an empty file left behind is removed at the next open.
            let _ = fs::remove_file(&path);
            return Err(Failure::new("fsync the directory", &self.shared.dir, e));
        }
        Ok(Current {
            seq,
            path,
            file,
            len: 0,
            count: 0,
        })
    }

    /// Hands the segment being written (if any) to the replay: everything in it is fsynced.
    fn close_current(&mut self) {
        if let Some(current) = self.current.take() {
            self.shared.add_closed(current.seq, current.count);
        }
    }
}
