use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt as _;
use uuid::Uuid;

use super::frame::{self, HEADER_LEN};
use super::*;

const PHONE: &str = "+14155552671";

fn record(n: usize) -> Record {
    Record::new(
        RecordKind::Status,
        vec![
            ("CallSid".into(), format!("CA{n:032x}")),
            ("From".into(), PHONE.into()),
            ("CallStatus".into(), "completed".into()),
        ],
        Utc::now(),
    )
}

fn records(n: usize) -> Vec<Record> {
    (0..n).map(record).collect()
}

async fn append_all(spool: &Spool, records: &[Record]) {
    for r in records {
        spool.append(r).await.expect("append");
    }
}

fn frame_len(record: &Record) -> usize {
    frame::encode(record).expect("encodes").len()
}

/// Every record of every segment, in replay order.
fn read_all(segments: &[Segment]) -> Vec<Record> {
    segments
        .iter()
        .flat_map(|s| s.records().expect("readable"))
        .collect()
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("listable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("segment-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_spool_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Spool>();
}

#[tokio::test]
async fn appended_records_come_back_from_seal_in_order_and_remove_deletes_the_file_and_lowers_depth()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let appended = records(3);

    append_all(&spool, &appended).await;
    assert_eq!(spool.depth(), 3);
    let mut segments = spool.seal().await.expect("seal");

    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].records().expect("readable"), appended);
    assert_eq!(spool.skipped(), 0);
    let segment = segments.remove(0);
    let path = segment.path().to_owned();
    assert!(path.exists());
    segment.remove().expect("remove");
    assert!(!path.exists());
    assert_eq!(spool.depth(), 0);
    assert!(spool.seal().await.expect("seal").is_empty());
}

#[tokio::test]
async fn records_survive_a_reopen_are_counted_in_depth_and_new_appends_get_a_higher_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = records(3);
    let spool = Spool::open(dir.path()).expect("open");
    append_all(&spool, &before).await;
    drop(spool);

    let spool = Spool::open(dir.path()).expect("reopen");
    assert_eq!(spool.depth(), 3);
    let after = record(99);
    spool.append(&after).await.expect("append");
    let segments = spool.seal().await.expect("seal");

    assert_eq!(segments.len(), 2);
    assert!(segments[1].sequence() > segments[0].sequence());
    assert_eq!(segments[0].records().expect("readable"), before);
    assert_eq!(segments[1].records().expect("readable"), [after]);
    assert_eq!(spool.depth(), 4);
}

#[tokio::test]
async fn a_torn_tail_is_skipped_and_after_open_the_next_append_follows_the_last_good_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appended = records(3);
    let spool = Spool::open(dir.path()).expect("open");
    append_all(&spool, &appended).await;
    let segments = spool.seal().await.expect("seal");
    let path = segments[0].path().to_owned();
    let full = fs::metadata(&path).expect("stat").len();
    // A crash in the middle of writing the third frame.
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(full - 5))
        .expect("truncate");

    assert_eq!(segments[0].records().expect("readable"), appended[..2]);
    assert_eq!(spool.skipped(), 1);
    drop(segments);
    drop(spool);

    let spool = Spool::open(dir.path()).expect("reopen");
    let good_len = frame_len(&appended[0]) + frame_len(&appended[1]);
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        u64::try_from(good_len).expect("fits")
    );
    assert_eq!(spool.depth(), 2);
    assert_eq!(spool.skipped(), 1);
    let next = record(3);
    spool.append(&next).await.expect("append");
    let segments = spool.seal().await.expect("seal");

    assert_eq!(
        read_all(&segments),
        [appended[0].clone(), appended[1].clone(), next]
    );
    assert_eq!(spool.skipped(), 1, "the cut tail is not met again");
}

#[tokio::test]
async fn a_corrupt_byte_in_the_middle_record_skips_only_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appended = records(3);
    let spool = Spool::open(dir.path()).expect("open");
    append_all(&spool, &appended).await;
    let segments = spool.seal().await.expect("seal");
    let path = segments[0].path();
    let mut bytes = fs::read(path).expect("read");
    let inside_second_payload = frame_len(&appended[0]) + HEADER_LEN + 10;
    bytes[inside_second_payload] ^= 0x20;
    fs::write(path, &bytes).expect("write");

    let read = segments[0].records().expect("readable");

    assert_eq!(read, [appended[0].clone(), appended[2].clone()]);
    assert_eq!(spool.skipped(), 1);
}

#[tokio::test]
async fn garbage_between_frames_is_skipped_by_resynchronising() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appended = records(2);
    let spool = Spool::open(dir.path()).expect("open");
    append_all(&spool, &appended).await;
    let segments = spool.seal().await.expect("seal");
    let path = segments[0].path();
    let bytes = fs::read(path).expect("read");
    let (first, second) = bytes.split_at(frame_len(&appended[0]));
    // Includes a stray magic, so the scan has to resynchronise more than once.
    let garbage = [
        b"\x00\x13 not a frame ".as_slice(),
        &frame::MAGIC,
        b"\xff\xff",
    ]
    .concat();
    fs::write(path, [first, &garbage, second].concat()).expect("write");

    let read = segments[0].records().expect("readable");

    assert_eq!(read, appended);
    assert_eq!(spool.skipped(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_appends_land_exactly_once_and_share_fsyncs() {
    const APPENDS: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    // Park the writer so the appends are all queued at once, whatever the scheduler does.
    let release = spool.hold_writer().expect("hold");

    let tasks: Vec<_> = (0..APPENDS)
        .map(|n| {
            let spool = spool.clone();
            tokio::spawn(async move {
                let r = record(n);
                spool.append(&r).await.map(|()| r.id)
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), async {
        while spool.sent() < u64::try_from(APPENDS).expect("fits") {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("every task queued its append");
    drop(release);
    let mut acked = HashSet::new();
    for task in tasks {
        acked.insert(task.await.expect("task").expect("append"));
    }

    assert_eq!(acked.len(), APPENDS);
    let fsyncs = spool.fsyncs();
    assert!(
        fsyncs < u64::try_from(APPENDS).expect("fits"),
        "{fsyncs} fsyncs for {APPENDS} appends"
    );
    let segments = spool.seal().await.expect("seal");
    let read: Vec<Uuid> = read_all(&segments).iter().map(|r| r.id).collect();
    assert_eq!(read.len(), APPENDS, "no record written twice");
    assert_eq!(read.into_iter().collect::<HashSet<_>>(), acked);
    assert_eq!(spool.depth(), u64::try_from(APPENDS).expect("fits"));
}

#[tokio::test]
async fn seal_with_nothing_written_returns_only_earlier_segments_and_creates_no_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    assert!(spool.seal().await.expect("seal").is_empty());
    assert!(segment_files(dir.path()).is_empty());
    spool.append(&record(1)).await.expect("append");
    let first = spool.seal().await.expect("seal");

    let again = spool.seal().await.expect("seal");

    assert_eq!(
        again.iter().map(Segment::path).collect::<Vec<_>>(),
        first.iter().map(Segment::path).collect::<Vec<_>>()
    );
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn a_record_over_the_frame_limit_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let huge = Record::new(
        RecordKind::Voice,
        vec![("Body".into(), "x".repeat(frame::MAX_PAYLOAD))],
        Utc::now(),
    );

    let refused = spool.append(&huge).await;

    assert!(
        matches!(refused, Err(SpoolError::TooLarge { .. })),
        "{refused:?}"
    );
    assert_eq!(spool.depth(), 0);
    assert!(segment_files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_second_spool_on_the_same_directory_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");

    let second = Spool::open(dir.path());

    assert!(
        matches!(second, Err(SpoolError::Locked { .. })),
        "{second:?}"
    );
    drop(spool);
    Spool::open(dir.path()).expect("open after the first is gone");
}

#[tokio::test]
async fn the_directory_is_private_to_its_owner_and_so_are_the_segments() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("spool");
    let spool = Spool::open(&dir).expect("open");
    spool.append(&record(1)).await.expect("append");
    let segments = spool.seal().await.expect("seal");

    let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(segments[0].path()), 0o600);
}

#[tokio::test]
async fn an_append_that_cannot_be_written_gets_the_error_and_later_appends_still_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let spool_dir = dir.path().to_owned();
    fs::remove_dir_all(&spool_dir).expect("remove the directory");

    let failed = spool.append(&record(1)).await;

    assert!(matches!(failed, Err(SpoolError::Io { .. })), "{failed:?}");
    assert_eq!(spool.depth(), 0);
    fs::create_dir(&spool_dir).expect("recreate");
    let landed = record(2);
    spool.append(&landed).await.expect("append");
    let segments = spool.seal().await.expect("seal");
    assert_eq!(read_all(&segments), [landed]);
    assert_eq!(spool.depth(), 1);
}

#[tokio::test]
async fn dropping_the_last_clone_still_writes_an_append_already_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path()).expect("open");
    let queued = record(1);
    let release = spool.hold_writer().expect("hold");
    // Polled once (so queued), then abandoned by its caller.
    assert!(spool.append(&queued).now_or_never().is_none());
    drop(release);

    drop(spool);

    let spool = Spool::open(dir.path()).expect("reopen");
    assert_eq!(spool.depth(), 1);
    assert_eq!(read_all(&spool.seal().await.expect("seal")), [queued]);
}

#[tokio::test]
async fn the_warning_for_a_skipped_frame_names_the_file_and_offset_but_no_field_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appended = records(2);
    let spool = Spool::open(dir.path()).expect("open");
    append_all(&spool, &appended).await;
    let segments = spool.seal().await.expect("seal");
    let path = segments[0].path();
    let mut bytes = fs::read(path).expect("read");
    let offset = frame_len(&appended[0]);
    bytes[offset + HEADER_LEN + 1] ^= 0x01;
    fs::write(path, &bytes).expect("write");
    let log = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer({
            let log = Arc::clone(&log);
            move || Capture(Arc::clone(&log))
        })
        .finish();

    let read = tracing::subscriber::with_default(subscriber, || segments[0].records());

    assert_eq!(read.expect("readable"), appended[..1]);
    let log = String::from_utf8(log.lock().expect("log").clone()).expect("utf-8");
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains(&path.display().to_string()), "{log}");
    assert!(log.contains(&format!("offset={offset}")), "{log}");
    assert!(!log.contains(PHONE), "{log}");
    assert!(!log.contains("CallSid"), "{log}");
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
