//! Log lines handed to a thread of their own, which writes whatever has queued in one go.
//!
//! tracing-appender's worker did the same job, but its channel spins and yields before it
//! sleeps, and it writes one line per `write`: a profile billed a visible share of every
//! voice webhook's CPU to that thread (docs/PERFORMANCE.md). Here the writer sleeps on a condition variable, is woken only
//! when it sleeps, takes the whole queue at once, and rests a moment after each write so
//! that lines gather: woken for every line, it cost a futex wake-up per request.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes queued at most; past it a logging thread waits for room rather than lose a line.
pub const QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// How long the writer rests after a write before it takes what gathered meanwhile: lines
/// reach standard error at most this much later, and the writer wakes at most 500 times a
/// second however many lines there are.
const REST_AFTER_WRITE: Duration = Duration::from_millis(2);

/// The lines not yet written, shared by the logging threads and the writer.
struct Shared {
    queue: Mutex<Queue>,
    /// The writer waits here for lines (or for the end).
    lines_queued: Condvar,
    /// Logging threads wait here for room when the queue is full.
    room_made: Condvar,
    limit: usize,
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    writer_asleep: bool,
    waiting_for_room: usize,
    closed: bool,
    /// Where the writer leaves its output when it stops, so a line logged after that is
    /// written in place rather than queued for no one.
    stopped_writer_output: Option<Box<dyn Write + Send>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A thread that panicked while holding the lock left whole lines behind: a line is
        // appended in one `extend_from_slice`.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The logging side: each `write` queues one formatted line.
#[derive(Clone)]
pub struct LineQueue {
    shared: Arc<Shared>,
}

/// Owns the writer thread; dropping it writes out every queued line and stops the thread.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes the queue to `out`, queueing at most `limit` bytes.
pub fn start<W: Write + Send + 'static>(
    out: W,
    limit: usize,
    thread_name: &str,
) -> io::Result<(LineQueue, Writer)> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        lines_queued: Condvar::new(),
        room_made: Condvar::new(),
        limit,
    });
    let thread = std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_until_closed(&shared, out)
        })?;
    Ok((
        LineQueue {
            shared: Arc::clone(&shared),
        },
        Writer {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_until_closed(shared: &Shared, mut out: impl Write + Send + 'static) {
    let mut taken = Vec::new();
    loop {
        let closing = {
            let mut queue = shared.lock();
            while queue.bytes.is_empty() && !queue.closed {
                queue.writer_asleep = true;
                queue = shared
                    .lines_queued
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                queue.writer_asleep = false;
            }
            if queue.bytes.is_empty() {
                let _ = out.flush();
                queue.stopped_writer_output = Some(Box::new(out));
                return;
            }
            std::mem::swap(&mut queue.bytes, &mut taken);
            if queue.waiting_for_room > 0 {
                shared.room_made.notify_all();
            }
            queue.closed
        };
        // Nowhere is left to report a failed write to standard error; the next batch tries
        // again.
        let _ = out.write_all(&taken);
        taken.clear();
        if !closing {
            std::thread::sleep(REST_AFTER_WRITE);
        }
    }
}

impl LineQueue {
    fn push(&self, line: &[u8]) {
        let shared = &*self.shared;
        let mut queue = shared.lock();
        if let Some(out) = queue.stopped_writer_output.as_mut() {
            let _ = out.write_all(line);
            return;
        }
        // A line longer than the whole limit still goes in once the queue is empty.
        while !queue.bytes.is_empty() && queue.bytes.len() + line.len() > shared.limit {
            queue.waiting_for_room += 1;
            queue = shared
                .room_made
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.waiting_for_room -= 1;
        }
        queue.bytes.extend_from_slice(line);
        if queue.writer_asleep {
            // Cleared here, not only when it wakes, so the next line does not wake it again.
            queue.writer_asleep = false;
            shared.lines_queued.notify_one();
        }
    }
}

impl Write for LineQueue {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineQueue {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.lines_queued.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what the writer writes, and can hold it still to let the queue fill.
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        writes: Arc<std::sync::atomic::AtomicUsize>,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _open = self.gate.lock().unwrap();
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }

        fn lines_written(&self) -> usize {
            self.text().lines().count()
        }
    }

    fn line(thread: usize, n: usize) -> String {
        format!("{{\"thread\":{thread},\"n\":{n}}}\n")
    }

    #[test]
    fn every_line_from_many_threads_is_written_whole_and_in_each_threads_order() {
        let sink = Sink::default();
        let (queue, writer) = start(sink.clone(), 4096, "test-log").unwrap();
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let mut queue = queue.clone();
                scope.spawn(move || {
                    for n in 0..2000 {
                        queue.write_all(line(thread, n).as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(writer);
        let text = sink.text();
        let mut next = [0_usize; 8];
        for written in text.lines() {
            let value: serde_json::Value = serde_json::from_str(written).unwrap();
            let thread = value["thread"].as_u64().unwrap() as usize;
            assert_eq!(value["n"].as_u64().unwrap() as usize, next[thread]);
            next[thread] += 1;
        }
        assert_eq!(next, [2000; 8]);
    }

    #[test]
    fn a_full_queue_makes_the_logger_wait_and_loses_nothing() {
        let sink = Sink::default();
        let held = sink.gate.lock().unwrap();
        let (mut queue, writer) = start(sink.clone(), 64, "test-log").unwrap();
        let logger = std::thread::spawn(move || {
            for n in 0..100 {
                queue.write_all(line(0, n).as_bytes()).unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        // The writer is stuck in its first write and the queue holds at most 64 bytes.
        assert!(!logger.is_finished(), "the logger ran past a full queue");
        drop(held);
        logger.join().unwrap();
        drop(writer);
        assert_eq!(sink.lines_written(), 100);
    }

    #[test]
    fn lines_queued_while_the_writer_writes_go_out_in_one_write() {
        let sink = Sink::default();
        let held = sink.gate.lock().unwrap();
        let (mut queue, writer) = start(sink.clone(), 1 << 20, "test-log").unwrap();
        queue.write_all(line(0, 0).as_bytes()).unwrap();
        // Wait until the writer has taken the first line and is stuck writing it.
        while !writer.shared.lock().bytes.is_empty() {
            std::thread::yield_now();
        }
        for n in 1..50 {
            queue.write_all(line(0, n).as_bytes()).unwrap();
        }
        drop(held);
        drop(writer);
        assert_eq!(sink.lines_written(), 50);
        assert_eq!(sink.writes.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_line_logged_after_the_writer_stopped_is_written_in_place() {
        let sink = Sink::default();
        let (mut queue, writer) = start(sink.clone(), 64, "test-log").unwrap();
        drop(writer);
        for n in 0..100 {
            queue.write_all(line(0, n).as_bytes()).unwrap();
        }
        assert_eq!(sink.lines_written(), 100);
    }

    #[test]
    fn dropping_the_writer_writes_out_what_is_queued() {
        let sink = Sink::default();
        let (mut queue, writer) = start(sink.clone(), 1 << 20, "test-log").unwrap();
        for n in 0..1000 {
            queue.write_all(line(0, n).as_bytes()).unwrap();
        }
        drop(writer);
        assert_eq!(sink.lines_written(), 1000);
    }
}
