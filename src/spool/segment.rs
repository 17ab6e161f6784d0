//! Segment files: their names, the directory's listing and fsync, and the handle a replay
//! reads and removes.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::frame::{self, Scan};
use super::{Record, Shared, SpoolError};

const PREFIX: &str = "segment-";
const SUFFIX: &str = ".spool";
const SEQ_DIGITS: usize = 20;

/// `segment-<20-digit sequence>.spool`: zero-padded so names sort as sequences do.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:0SEQ_DIGITS$}{SUFFIX}")
}

/// The sequence of a segment's file name; `None` for any other file.
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let entries = fs::read_dir(dir).map_err(|e| SpoolError::io("list", dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SpoolError::io("list", dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(found)
}

/// Makes a file's creation or removal in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads and decodes a whole segment file.
pub(crate) fn read(path: &Path) -> Result<(usize, Scan), SpoolError> {
    let bytes = fs::read(path).map_err(|e| SpoolError::io("read", path, e))?;
    Ok((bytes.len(), frame::scan(&bytes)))
}

/// A closed segment: no more appends go to it. Handed out by [`super::Spool::seal`].
#[derive(Debug)]
pub struct Segment {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) shared: Arc<Shared>,
}

impl Segment {
    /// The segment's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its sequence number: later segments have higher ones, across restarts too.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// Reads every good record in order. A torn or corrupt frame is skipped with a warning
    /// naming the file and byte offset (never the contents) and counted in
    /// [`super::Spool::skipped`]; the records after it are still read. Reading is blocking file
    /// I/O: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// [`SpoolError::Io`] if the file cannot be read.
    pub fn records(&self) -> Result<Vec<Record>, SpoolError> {
        let (file_len, scan) = read(&self.path)?;
        for damage in &scan.damaged {
            tracing::warn!(
                path = %self.path.display(),
                offset = damage.offset,
                bytes = damage.len,
                tail = damage.offset + damage.len == file_len,
                "spool: skipped a torn or corrupt frame"
            );
        }
        self.shared.count_skipped(scan.damaged.len());
        Ok(scan.records)
    }

    /// Deletes the segment, once all its records were applied, and lowers the depth by the
    /// records it was counted with. A segment already removed (through another handle from an
    /// earlier seal) is not counted twice.
    ///
    /// # Errors
    /// [`SpoolError::Io`] if the file or the directory entry cannot be removed durably; the
    /// segment is then still listed by the next seal.
    pub fn remove(self) -> Result<(), SpoolError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SpoolError::io("remove", &self.path, e)),
        }
        sync_dir(&self.shared.dir)
            .map_err(|e| SpoolError::io("fsync the directory", &self.shared.dir, e))?;
        self.shared.forget(self.seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_as_sequences() {
        assert_eq!(file_name(7), "segment-00000000000000000007.spool");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn other_files_are_not_segments() {
        for name in [
            "spool.lock",
            "segment-7.spool",
            "segment-0000000000000000000x.spool",
            "segment-00000000000000000007.spool.tmp",
            "segment-+0000000000000000007.spool",
        ] {
            assert_eq!(parse_name(name), None, "{name}");
        }
    }
}
