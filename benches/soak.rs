//! Soak: clusterdns under 80 % of its saturation rate for a bounded time,
//! with the cluster changing underneath, sampling RSS every 10 s.
//!
//! Why: leaks and slow growth (an index never freed, a pool that only
//! grows, a cache past its capacity) do not show in a benchmark of seconds.
//! The run passes only with 0 errors (no lost query, no SERVFAIL/REFUSED/
//! FORMERR) and every RSS sample within ±5 % of the first one taken under
//! load. A query lost because the kernel dropped a datagram at one of the
//! harness's own full sockets (dnsperf starved of CPU on the shared machine,
//! or the stub upstream) is reported beside the errors but not counted.
//! Those drops are read per socket: dnsperf's sockets by inode while it
//! runs, the stub's by its port. Drops at clusterdns's sockets, another
//! process's, and any loss the kernel cannot attribute, all count.
//!
//! `SOAK_PLANT_LOSS=1` adds queries for a zone clusterdns forwards to an
//! upstream that never answers: a server-side loss the run must fail on,
//! to show the accounting does not explain real losses away.
//!
//! Setup: the real apiserver (the F1 fixture), a Service created and
//! deleted every 5 s through it, and clusterdns serving cluster names plus
//! forwarded names (cache in front of a stub upstream on loopback). The
//! server is pinned to CPU 0, dnsperf to CPU 1.
//!
//! `SOAK_LOG=1` turns the `log` plugin on and reads clusterdns's stdout
//! through a pipe, as a container runtime does, counting query lines. The
//! run then also fails unless every completed query of the load has its
//! line (at least as many lines as completed queries, at most as many as
//! sent) and no line was dropped. Lines still buffered at the end are
//! flushed by a SIGTERM before counting.
//!
//! `bench/soak [SECONDS]` (default 600; CI runs 60). Results of a run of
//! 600 s or more go to `bench/results/soak-latest.md` (`soak-log-latest.md`
//! with `SOAK_LOG=1`), of a shorter one to `target/bench-smoke/`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    CLUSTER_QUERIES, Run, dnsperf, provenance, rss_mib, spawn_churn, start_clusterdns, udp_drops,
};
use support::peers::{Cluster, cluster};
use support::upstream::{Mode, Stub};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const CHURN_EVERY: Duration = Duration::from_secs(5);
const RSS_BAND: f64 = 0.05;
const LOAD_FRACTION: f64 = 0.8;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak: run it with bench/soak [SECONDS]");
        return;
    }
    let seconds: u32 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let work = tempfile::tempdir().unwrap();
    let cluster = cluster();
    cluster.apply(include_str!("../tests/fixtures/cluster-f1.yaml"));
    let ns = cluster.namespace("soak");
    let upstream = Stub::start(Mode::Answer);
    let plant_loss = std::env::var("SOAK_PLANT_LOSS").is_ok_and(|v| v == "1");
    let blackhole = Stub::start(Mode::Silent);
    let log = std::env::var("SOAK_LOG").is_ok_and(|v| v == "1");
    let text = corefile(cluster, &upstream, plant_loss.then_some(&blackhole));
    let (mut server, lines) = match log {
        true => start_counting_lines(work.path(), &text.replace(" errors\n", " errors\n log\n")),
        false => (start_clusterdns(work.path(), &text), None),
    };
    let queries = write_queries(work.path(), plant_loss);

    dnsperf(server.port, &queries, 3, Some(5_000), false);
    let saturation = dnsperf(server.port, &queries, 5, None, false).qps;
    let rate = (saturation * LOAD_FRACTION) as u32;
    println!("soak: saturation {saturation:.0} QPS; driving {rate} QPS for {seconds} s");

    let churning = Arc::new(AtomicBool::new(true));
    let churn = spawn_churn(cluster, ns, CHURN_EVERY, churning.clone());
    let sampler = spawn_sampler(server.child.id(), seconds);
    let lines_before = lines.as_ref().map(|l| settled(l));
    let drops_before = udp_drops(server.port);
    let upstream_port = upstream.addr.port();
    let stub_drops_before = udp_drops(upstream_port);
    let load = dnsperf(server.port, &queries, seconds, Some(rate), false);
    let server_drops = udp_drops(server.port) - drops_before;
    let harness_drops = load.client_drops + (udp_drops(upstream_port) - stub_drops_before);
    churning.store(false, Ordering::SeqCst);
    let changes = churn.join().unwrap();
    let samples = sampler.join().unwrap();
    let log = lines.map(|lines| {
        let (count, dropped_warning) = stop_and_count(&mut server, lines);
        LogCount {
            lines: count - lines_before.unwrap_or(0),
            dropped_warning,
        }
    });

    let report = Report {
        seconds,
        saturation,
        rate,
        load,
        samples,
        changes,
        server_drops,
        harness_drops,
        log,
    };
    let text = report.render();
    println!("{text}");
    // A run shorter than 600 s (CI's) must not replace the quoted figures.
    let results = common::results_dir(seconds < 600);
    let name = match report.log {
        Some(_) => "soak-log-latest.md",
        None => "soak-latest.md",
    };
    std::fs::write(results.join(name), &text).unwrap();
    drop(server);
    assert_eq!(report.errors(), 0.0, "soak: errors under load");
    assert!(report.rss_flat(), "soak: RSS outside ±5 %");
    assert!(report.log_complete(), "soak: query log lines lost");
}

/// Query lines clusterdns has written so far, and whether it warned of
/// dropped lines.
#[derive(Default)]
struct Lines {
    count: std::sync::atomic::AtomicU64,
    dropped_warning: AtomicBool,
}

/// clusterdns with its stdout piped to a thread that counts query lines.
fn start_counting_lines(dir: &Path, corefile: &str) -> (common::Server, Option<Arc<Lines>>) {
    let port = support::free_port();
    let path = dir.join("clusterdns-log.Corefile");
    std::fs::write(&path, corefile.replace("PORT", &port.to_string())).unwrap();
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/clusterdns");
    let mut child = common::pinned(&binary)
        .stdout(std::process::Stdio::piped())
        .arg("-conf")
        .arg(&path)
        .spawn()
        .expect("clusterdns");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Lines::default());
    let counting = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { return };
            if line.starts_with(b"[INFO] 127.0.0.1:") {
                counting.count.fetch_add(1, Ordering::Relaxed);
            } else if line.windows(20).any(|w| w == b"query log lines drop") {
                counting.dropped_warning.store(true, Ordering::SeqCst);
            }
        }
    });
    common::wait_listening(port);
    let server = common::Server {
        name: "clusterdns",
        child,
        port,
    };
    (server, Some(lines))
}

/// The line count once no line has come for 200 ms (the log buffer is
/// written every 10 ms).
fn settled(lines: &Lines) -> u64 {
    let mut last = lines.count.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = lines.count.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Stops clusterdns with SIGTERM (which writes every buffered line) and
/// counts the lines once its stdout has ended.
fn stop_and_count(server: &mut common::Server, lines: Arc<Lines>) -> (u64, bool) {
    let pid = server.child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "clusterdns did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        settled(&lines),
        lines.dropped_warning.load(Ordering::SeqCst),
    )
}

/// Query lines written during the load run.
struct LogCount {
    lines: u64,
    dropped_warning: bool,
}

fn corefile(cluster: &Cluster, upstream: &Stub, blackhole: Option<&Stub>) -> String {
    let planted = blackhole.map_or(String::new(), |stub| {
        format!(
            "blackhole.test:PORT {{\n bind 127.0.0.1\n forward . {}\n}}\n",
            stub.addr
        )
    });
    format!(
        ".:PORT {{\n bind 127.0.0.1\n errors\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods insecure\n }}\n cache 30\n forward . {}\n}}\n{planted}",
        cluster.kubeconfig.display(),
        upstream.addr
    )
}

/// Cluster names of the F1 fixture (answers, NODATA, NXDOMAIN misses) and
/// 200 forwarded names, which the cache serves after their first miss;
/// with `plant_loss`, also names no upstream answers.
fn write_queries(dir: &Path, plant_loss: bool) -> PathBuf {
    let mut lines: Vec<String> = CLUSTER_QUERIES
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(
            "1-2-3-4.testns.pod.cluster.local A".to_string(),
        ))
        .collect();
    lines.extend((0..200).map(|i| format!("host{i}.example.org A")));
    if plant_loss {
        lines.extend((0..10).map(|i| format!("lost{i}.blackhole.test A")));
    }
    let path = dir.join("soak.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// RSS (MiB) every `SAMPLE_EVERY` while the load runs.
fn spawn_sampler(pid: u32, seconds: u32) -> std::thread::JoinHandle<Vec<(u64, f64)>> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut samples = Vec::new();
        loop {
            std::thread::sleep(SAMPLE_EVERY);
            let at = started.elapsed().as_secs();
            if at > u64::from(seconds) {
                return samples;
            }
            samples.push((at, rss_mib(pid)));
        }
    })
}

struct Report {
    seconds: u32,
    saturation: f64,
    rate: u32,
    load: Run,
    samples: Vec<(u64, f64)>,
    changes: usize,
    /// Queries the kernel dropped at clusterdns's full socket buffers.
    server_drops: u64,
    /// Datagrams dropped at the full buffers of the harness's own sockets
    /// (dnsperf's by inode, the stub upstream's by port) when the shared
    /// machine starved them: losses of the load generator, not the server's.
    harness_drops: u64,
    /// With `SOAK_LOG=1`: the query lines of the load run.
    log: Option<LogCount>,
}

impl Report {
    /// Every completed query has its line, no line was dropped, and there
    /// are no more lines than queries sent.
    fn log_complete(&self) -> bool {
        self.log.as_ref().is_none_or(|log| {
            let lines = log.lines as f64;
            !log.dropped_warning && lines >= self.load.completed && lines <= self.load.sent
        })
    }

    /// Lost queries plus every reply that is not NOERROR or NXDOMAIN.
    fn errors(&self) -> f64 {
        let bad: f64 = self
            .load
            .rcodes
            .iter()
            .filter(|(code, _)| code != "NOERROR" && code != "NXDOMAIN")
            .map(|(_, count)| count)
            .sum();
        (self.load.lost - self.harness_drops as f64).max(0.0) + bad
    }

    fn rss_flat(&self) -> bool {
        let Some(&(_, first)) = self.samples.first() else {
            return false;
        };
        self.samples
            .iter()
            .all(|(_, rss)| (rss - first).abs() <= first * RSS_BAND)
    }

    fn render(&self) -> String {
        let mut text = String::new();
        let with_log = if self.log.is_some() { ", log on" } else { "" };
        writeln!(
            text,
            "# Soak: {} s at 80 % of saturation{with_log}\n",
            self.seconds
        )
        .unwrap();
        let command = match self.log {
            Some(_) => format!("SOAK_LOG=1 bench/soak {}", self.seconds),
            None => format!("bench/soak {}", self.seconds),
        };
        writeln!(text, "{}\n", provenance(&command)).unwrap();
        writeln!(
            text,
            "Saturation {:.0} QPS; offered {} QPS; achieved {:.0} QPS; sent {:.0}, completed {:.0}, lost {:.0}.",
            self.saturation, self.rate, self.load.qps, self.load.sent, self.load.completed, self.load.lost
        )
        .unwrap();
        let codes: Vec<String> = self
            .load
            .rcodes
            .iter()
            .map(|(code, count)| format!("{code} {count:.0}"))
            .collect();
        writeln!(text, "Response codes: {}.", codes.join(", ")).unwrap();
        writeln!(
            text,
            "Errors: {:.0} (of which dropped at clusterdns's socket buffers: {}). Not counted: {} datagrams dropped at the harness's own socket buffers (dnsperf, stub upstream). Cluster changes during the run: {}.\n",
            self.errors(),
            self.server_drops,
            self.harness_drops,
            self.changes
        )
        .unwrap();
        if let Some(log) = &self.log {
            writeln!(
                text,
                "Log: `log` on, stdout read through a pipe. Query lines during the load: {} for {:.0} completed and {:.0} sent queries; dropped-lines warning: {}.\n",
                log.lines,
                self.load.completed,
                self.load.sent,
                if log.dropped_warning { "yes" } else { "no" }
            )
            .unwrap();
        }
        writeln!(text, "| t (s) | RSS (MiB) | vs first |\n|---|---|---|").unwrap();
        let first = self.samples.first().map_or(f64::NAN, |s| s.1);
        for (at, rss) in &self.samples {
            writeln!(
                text,
                "| {at} | {rss:.1} | {:+.1} % |",
                (rss - first) / first * 100.0
            )
            .unwrap();
        }
        let verdict = if self.errors() == 0.0 && self.rss_flat() && self.log_complete() {
            "PASS"
        } else {
            "FAIL"
        };
        let lines = if self.log.is_some() {
            ", and a log line for every completed query,"
        } else {
            ""
        };
        writeln!(
            text,
            "\n{verdict}: 0 errors and RSS within ±5 %{lines} required."
        )
        .unwrap();
        text
    }
}
