//! Log lines in CoreDNS's format: `[LEVEL] plugin/NAME: msg`, no timestamp,
//! on stdout.
//!
//! Why not `tracing`: dashboards and log pipelines parse CoreDNS's exact
//! lines, and a subscriber on the hot path costs throughput. Nothing here
//! runs per query unless the `log` plugin is on.
//!
//! Why query lines are batched: writing each line to stdout is one `write`
//! system call per query, the largest single cost of a query with `log` on.
//! Query lines ([`query_line`]) are appended to one buffer in memory and a
//! writer thread hands the buffer to stdout every 10 ms, in the order they
//! were appended. Two buffers take turns (one filling, one being written),
//! so neither is freed and grown again every 10 ms: that churn made RSS
//! swing by several MiB under load. Every other line ([`line`]) is written at once, after
//! whatever query lines came before it, so the order on stdout is the order
//! of the calls.
//!
//! When stdout does not take lines (a full pipe to a stalled container
//! runtime), CoreDNS's query path blocks on the write and DNS stops. Here
//! the query path never waits for stdout: the buffer holds at most
//! `CLUSTERDNS_LOG_BUFFER_BYTES` (4 MiB by default, about 25 000 lines);
//! past that, query lines are dropped and counted in
//! `clusterdns_log_dropped_lines_total`, and a warning says how many once
//! stdout moves again. Losing log lines is better than losing DNS.

use std::io::Write;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

/// How long a query line may wait in memory before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);
const DEFAULT_BUFFER_BYTES: usize = 4 << 20;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Query lines dropped since the last write, for the warning.
    dropped: u64,
}

struct Sink {
    pending: Mutex<Pending>,
    /// Wakes the writer thread early (a buffer half full).
    wake: Condvar,
    /// Held while taking and writing, so chunks reach stdout in order; it
    /// holds the emptied buffer of the last write, swapped in for the next
    /// one, so neither buffer is freed and grown again every 10 ms.
    writer: Mutex<Vec<u8>>,
    limit: usize,
    dropped_total: prometheus::IntCounter,
}

static SINK: LazyLock<Sink> = LazyLock::new(|| {
    let limit = std::env::var("CLUSTERDNS_LOG_BUFFER_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BUFFER_BYTES);
    let dropped_total = prometheus::IntCounter::new(
        "clusterdns_log_dropped_lines_total",
        "Query log lines dropped because stdout did not take them.",
    )
    .expect("valid metric");
    crate::metrics::global().register(&dropped_total);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(write_periodically)
        .expect("log writer thread");
    Sink {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        writer: Mutex::new(Vec::new()),
        limit,
        dropped_total,
    }
});

/// Queues one query line (the `log` plugin's), which `render` appends to
/// the buffer itself (no line is built apart and copied); written within
/// 10 ms.
pub fn query_line(render: impl FnOnce(&mut Vec<u8>)) {
    let sink = &*SINK;
    let mut pending = lock(&sink.pending);
    let mark = pending.bytes.len();
    if mark < sink.limit {
        render(&mut pending.bytes);
        pending.bytes.push(b'\n');
    }
    if pending.bytes.len() > sink.limit {
        pending.bytes.truncate(mark);
        pending.dropped += 1;
        sink.dropped_total.inc();
        return;
    }
    if pending.bytes.len() > sink.limit / 2 {
        sink.wake.notify_one();
    }
}

/// The lock even if a panic interrupted a holder: a half-appended line is
/// better than every later query failing on a poisoned lock.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes one line to stdout now, after the query lines queued before it.
pub fn line(text: &str) {
    let sink = &*SINK;
    {
        let mut pending = lock(&sink.pending);
        pending.bytes.extend_from_slice(text.as_bytes());
        pending.bytes.push(b'\n');
    }
    flush();
}

/// Writes every queued line to stdout (also at exit).
pub fn flush() {
    let sink = &*SINK;
    let mut bytes = lock(&sink.writer);
    let dropped = {
        let mut pending = lock(&sink.pending);
        std::mem::swap(&mut pending.bytes, &mut *bytes);
        std::mem::take(&mut pending.dropped)
    };
    let mut out = std::io::stdout().lock();
    if dropped > 0 {
        let _ = writeln!(
            out,
            "[WARNING] {dropped} query log lines dropped: stdout was not taking them"
        );
    }
    let _ = out.write_all(&bytes);
    let _ = out.flush();
    bytes.clear();
}

/// The writer thread: flushes every [`FLUSH_INTERVAL`], or sooner when the
/// buffer fills.
fn write_periodically() {
    loop {
        {
            let sink = &*SINK;
            let pending = lock(&sink.pending);
            let _ = sink.wake.wait_timeout(pending, FLUSH_INTERVAL);
        }
        flush();
    }
}

pub fn info(plugin: &str, msg: &str) {
    line(&format!("[INFO] plugin/{plugin}: {msg}"));
}

pub fn warning(plugin: &str, msg: &str) {
    line(&format!("[WARNING] plugin/{plugin}: {msg}"));
}

pub fn error(plugin: &str, msg: &str) {
    line(&format!("[ERROR] plugin/{plugin}: {msg}"));
}

/// A line at LEVEL without a plugin prefix (e.g. `[INFO] Reloading`).
pub fn level(level: &str, msg: &str) {
    line(&format!("[{level}] {msg}"));
}

/// `[WARNING] msg`, used by the Corefile parser.
pub fn warning_raw(msg: &str) {
    level("WARNING", msg);
}
