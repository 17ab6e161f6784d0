//! The one error type of the journal.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A journal operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system call failed; `context` says which, `path` on what. The source is shared
    /// because one failed fsync is reported to every append of its batch.
    #[error("spool: cannot {context} {}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    /// The record could not be serialised.
    #[error("spool: cannot encode a record")]
    Encode(#[from] serde_json::Error),
    /// The encoded record is larger than a frame may be.
    #[error("spool: a record of {len} bytes exceeds the frame limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// Another spool (in this process or another) holds the directory.
    #[error("spool: {} is in use by another spool", path.display())]
    Locked { path: PathBuf },
    /// The writer thread has stopped (it panicked); nothing more can be appended.
    #[error("spool: the writer thread has stopped")]
    Closed,
}

impl SpoolError {
    /// Wraps an I/O error met while doing `context` on `path`.
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            context,
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
