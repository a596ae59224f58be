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
//! `bench/soak [SECONDS]` (default 600; CI runs 60). Results of a run of
//! 600 s or more go to `bench/results/soak-latest.md`, of a shorter one to
//! `target/bench-smoke/soak-latest.md`.

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
    let server = start_clusterdns(
        work.path(),
        &corefile(cluster, &upstream, plant_loss.then_some(&blackhole)),
    );
    let queries = write_queries(work.path(), plant_loss);

    dnsperf(server.port, &queries, 3, Some(5_000), false);
    let saturation = dnsperf(server.port, &queries, 5, None, false).qps;
    let rate = (saturation * LOAD_FRACTION) as u32;
    println!("soak: saturation {saturation:.0} QPS; driving {rate} QPS for {seconds} s");

    let churning = Arc::new(AtomicBool::new(true));
    let churn = spawn_churn(cluster, ns, CHURN_EVERY, churning.clone());
    let sampler = spawn_sampler(server.child.id(), seconds);
    let drops_before = udp_drops(server.port);
    let upstream_port = upstream.addr.port();
    let stub_drops_before = udp_drops(upstream_port);
    let load = dnsperf(server.port, &queries, seconds, Some(rate), false);
    let server_drops = udp_drops(server.port) - drops_before;
    let harness_drops = load.client_drops + (udp_drops(upstream_port) - stub_drops_before);
    churning.store(false, Ordering::SeqCst);
    let changes = churn.join().unwrap();
    let samples = sampler.join().unwrap();

    let report = Report {
        seconds,
        saturation,
        rate,
        load,
        samples,
        changes,
        server_drops,
        harness_drops,
    };
    let text = report.render();
    println!("{text}");
    // A run shorter than 600 s (CI's) must not replace the quoted figures.
    let results = common::results_dir(seconds < 600);
    std::fs::write(results.join("soak-latest.md"), &text).unwrap();
    drop(server);
    assert_eq!(report.errors(), 0.0, "soak: errors under load");
    assert!(report.rss_flat(), "soak: RSS outside ±5 %");
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
}

impl Report {
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
        writeln!(text, "# Soak: {} s at 80 % of saturation\n", self.seconds).unwrap();
        let command = format!("bench/soak {}", self.seconds);
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
        let verdict = if self.errors() == 0.0 && self.rss_flat() {
            "PASS"
        } else {
            "FAIL"
        };
        writeln!(text, "\n{verdict}: 0 errors and RSS within ±5 % required.").unwrap();
        text
    }
}
