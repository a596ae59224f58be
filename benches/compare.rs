//! Side-by-side benchmark: clusterdns, CoreDNS 1.14.7 and knotd on the same
//! records in the same run (only ratios count on a shared 2-core machine).
//! The servers of a mix run at once on their own ports and take turns
//! under load, three rounds each, medians reported. Each server is pinned
//! to CPU 0 and dnsperf to CPU 1; no `log` plugin. For each mix it reports
//! saturation QPS, server CPU time per query at saturation and at a fixed
//! offered load (from /proc/PID/stat), p50/p99 latency at half of
//! clusterdns's saturation rate, and RSS.
//!
//! Saturation QPS is measured twice: under dnsperf, and under the batched
//! client of `common/blast.rs`, which one CPU can drive far past dnsperf's
//! limit, so that the QPS ratio is the servers' own.
//!
//! CPU per query at saturation is the server's capacity per core
//! (1 / CPU per query): on a 2-core machine one dnsperf thread may not
//! drive a fast server to a full core, so its saturation QPS is a lower
//! bound while its CPU per query is not. At the fixed rate nearly every
//! packet wakes the server alone, so that figure is dominated by the
//! kernel's per-packet wake-up cost, which every server pays.
//!
//! Mixes: (a) cluster names: A/AAAA/SRV/PTR plus NXDOMAIN search-path misses;
//! (b) forwarded names served from cache; (c) uncached forwarded names to a
//! local knotd upstream. All traffic is on 127.0.0.1; every run is bounded.
//!
//! Run with `bench/run` (which installs dnsperf and knotd and builds the
//! peers); the table goes to `bench/results/`.

#[path = "common/blast.rs"]
#[allow(unreachable_pub)]
mod blast;
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    CLUSTER_QUERIES, Run, Server, cpu_busy_seconds, cpu_seconds, dnsperf, percentile, rss_mib,
    start_clusterdns, start_coredns, start_knotd,
};
use support::peers::cluster;

const SATURATION_SECONDS: u32 = 5;
const FIXED_SECONDS: u32 = 6;
const FIXED_QPS: u32 = 20_000;

#[derive(Default, Clone)]
struct Result {
    qps: f64,
    /// Saturation QPS with the batched client (`blast`), and the share of
    /// one core the server used meanwhile.
    batched_qps: f64,
    batched_cpu_share: f64,
    /// Server CPU per answered query during the saturation run.
    saturated_cpu_us_per_query: f64,
    /// Share of one core the server used during the saturation run: below
    /// 1, the client (or the upstream on CPU 0) was the limit.
    saturated_cpu_share: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_query: f64,
    rss_mib: f64,
    /// Share of CPU 0 that went to anything but the server during the
    /// latency run (the apiserver, etcd, interrupts): a tail-latency
    /// suspect on a shared 2-core machine.
    others_on_cpu0: f64,
}

/// How long each latency run lasts.
const LATENCY_SECONDS: u32 = 3;
/// CPU per query and latency are measured this many times per server, the
/// servers taking turns, and the median is reported: the machine's noise
/// drifts over seconds, and taking turns spreads it over all servers.
const ROUNDS: usize = 3;

/// One server's figures from one round.
struct Sample {
    qps: f64,
    batched_qps: f64,
    batched_cpu_share: f64,
    saturated_cpu_us_per_query: f64,
    saturated_cpu_share: f64,
    cpu_us_per_query: f64,
    p50_ms: f64,
    p99_ms: f64,
    others_on_cpu0: f64,
}

/// Measures the servers of one mix, all running at once on their own
/// ports: a warm-up per server and clusterdns's saturation QPS (which sets
/// the latency rate: half of it), then [`ROUNDS`] rounds in which each
/// server in turn is saturated, then gets `FIXED_QPS` (CPU per query),
/// then the latency rate. Medians over the rounds are reported.
fn measure_mix(servers: &[Server], queries: &Path) -> Vec<Result> {
    for server in servers {
        // Fills caches and pools.
        dnsperf(server.port, queries, 2, Some(5_000), false);
    }
    let first = dnsperf(servers[0].port, queries, 3, None, false).qps;
    let rate = ((first / 2.0) as u32).max(1000);
    let mut samples: Vec<Vec<Sample>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (server, samples) in servers.iter().zip(&mut samples) {
            samples.push(sample(server, queries, rate));
        }
    }
    servers
        .iter()
        .zip(samples)
        .map(|(server, samples)| {
            let median = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
            Result {
                qps: median(|s| s.qps),
                batched_qps: median(|s| s.batched_qps),
                batched_cpu_share: median(|s| s.batched_cpu_share),
                saturated_cpu_us_per_query: median(|s| s.saturated_cpu_us_per_query),
                saturated_cpu_share: median(|s| s.saturated_cpu_share),
                p50_ms: median(|s| s.p50_ms),
                p99_ms: median(|s| s.p99_ms),
                cpu_us_per_query: median(|s| s.cpu_us_per_query),
                rss_mib: rss_mib(server.child.id()),
                others_on_cpu0: median(|s| s.others_on_cpu0),
            }
        })
        .collect()
}

/// The server's CPU seconds over one load run, with the run.
fn with_cpu<T>(pid: u32, run: impl FnOnce() -> T) -> (f64, T) {
    let before = cpu_seconds(pid);
    let result = run();
    (cpu_seconds(pid) - before, result)
}

/// Saturation, CPU per query at `FIXED_QPS`, then latency at `rate`.
fn sample(server: &Server, queries: &Path, rate: u32) -> Sample {
    let pid = server.child.id();
    let per_query = |cpu: f64, run: &Run| cpu / run.completed.max(1.0) * 1e6;
    let (saturated_cpu, saturated) = with_cpu(pid, || {
        dnsperf(server.port, queries, SATURATION_SECONDS, None, false)
    });
    let (batched_cpu, batched) = with_cpu(pid, || {
        blast::blast(server.port, queries, SATURATION_SECONDS, 1)
    });
    if batched.lost > batched.completed / 100 {
        eprintln!(
            "compare: {} batched: {} lost, {} completed ({} neither NOERROR nor NXDOMAIN)",
            server.name, batched.lost, batched.completed, batched.failed
        );
    }
    let (fixed_cpu, fixed) = with_cpu(pid, || {
        dnsperf(server.port, queries, FIXED_SECONDS, Some(FIXED_QPS), false)
    });
    let (busy, own) = (cpu_busy_seconds(0), cpu_seconds(pid));
    let latency = dnsperf(server.port, queries, LATENCY_SECONDS, Some(rate), true);
    let others = (cpu_busy_seconds(0) - busy) - (cpu_seconds(pid) - own);
    Sample {
        qps: saturated.qps,
        batched_qps: batched.qps,
        batched_cpu_share: batched_cpu / f64::from(SATURATION_SECONDS),
        saturated_cpu_us_per_query: per_query(saturated_cpu, &saturated),
        saturated_cpu_share: saturated_cpu / f64::from(SATURATION_SECONDS),
        cpu_us_per_query: per_query(fixed_cpu, &fixed),
        p50_ms: percentile(&latency.latencies, 0.5) * 1000.0,
        p99_ms: percentile(&latency.latencies, 0.99) * 1000.0,
        others_on_cpu0: (others / f64::from(LATENCY_SECONDS)).max(0.0),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn write_queries(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` builds and
    // runs this binary without it, and must not start a 3-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("compare: run it with bench/run (cargo bench --bench compare)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let cluster = cluster();
    let seed = format!(
        "{}/tests/fixtures/cluster-f1.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    cluster.apply(&std::fs::read_to_string(seed).unwrap());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let svc1: IpAddr = cluster
        .kubectl(&[
            "get",
            "svc",
            "svc1",
            "-n",
            "testns",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .parse()
        .unwrap();

    // Mix (a): cluster names.
    let cluster_queries: Vec<String> = CLUSTER_QUERIES
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(format!("{} PTR", reverse(svc1))))
        .collect();
    let cluster_file = write_queries(dir, "cluster.txt", &cluster_queries);
    let k8s = |extra: &str| {
        format!(
            ".:PORT {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {kubeconfig}\n }}\n {extra}\n}}\n"
        )
    };

    // knotd: the same cluster records as a static zone, and an upstream zone.
    let upstream_names: Vec<String> = (0..2000).map(|i| format!("host{i}.example.org")).collect();
    let mut upstream_zone = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns.example.org. admin.example.org. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n",
    );
    for (i, name) in upstream_names.iter().enumerate() {
        writeln!(
            upstream_zone,
            "{} A 192.0.2.{}",
            name.trim_end_matches(".example.org"),
            i % 250 + 1
        )
        .unwrap();
    }
    let cluster_zone = static_cluster_zone(svc1);

    let mut table: Vec<(String, Vec<(&'static str, Result)>)> = Vec::new();

    // (a) cluster names.
    let servers = [
        start_clusterdns(dir, &k8s("")),
        start_coredns(dir, &k8s("")),
        start_knotd(dir, &[("cluster.local.", cluster_zone.clone())]),
    ];
    std::thread::sleep(Duration::from_secs(2));
    let results = measure_mix(&servers, &cluster_file);
    table.push((
        "(a) cluster names".into(),
        servers.iter().map(|s| s.name).zip(results).collect(),
    ));
    drop(servers);

    // (b) forwarded names from cache, (c) uncached forwards, both to knotd.
    let upstream = start_knotd(dir, &[("example.org.", upstream_zone)]);
    let cached_file = write_queries(
        dir,
        "cached.txt",
        &upstream_names[..200]
            .iter()
            .map(|n| format!("{n} A"))
            .collect::<Vec<_>>(),
    );
    let uncached_file = write_queries(
        dir,
        "uncached.txt",
        &upstream_names
            .iter()
            .map(|n| format!("{n} A"))
            .collect::<Vec<_>>(),
    );
    for (label, extra, file) in [
        (
            "(b) forwarded, cache hits",
            format!("cache 3600\n forward . 127.0.0.1:{}", upstream.port),
            &cached_file,
        ),
        (
            "(c) forwarded, uncached",
            format!("forward . 127.0.0.1:{}", upstream.port),
            &uncached_file,
        ),
    ] {
        let servers = [
            start_clusterdns(dir, &k8s(&extra)),
            start_coredns(dir, &k8s(&extra)),
        ];
        std::thread::sleep(Duration::from_secs(2));
        let results = measure_mix(&servers, file);
        table.push((
            label.into(),
            servers.iter().map(|s| s.name).zip(results).collect(),
        ));
    }
    drop(upstream);

    let report = render(&table);
    println!("{report}");
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("latest.md"), &report).unwrap();
}

fn reverse(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(_) => unreachable!("the fixture's svc1 is IPv4"),
    }
}

/// The records of mix (a) as a zone knotd can serve (NXDOMAIN misses included).
fn static_cluster_zone(svc1: IpAddr) -> String {
    let mut zone = String::from(
        "$ORIGIN cluster.local.\n$TTL 5\n@ SOA ns.dns hostmaster 1 7200 1800 86400 5\n@ NS ns.dns\nns.dns A 127.0.0.1\n",
    );
    writeln!(zone, "svc1.testns.svc A {svc1}").unwrap();
    zone.push_str("hdls1.testns.svc A 172.0.0.2\nhdls1.testns.svc A 172.0.0.3\nhdls1.testns.svc A 172.0.0.4\nhdls1.testns.svc A 172.0.0.5\n");
    zone.push_str("_http._tcp.svc1.testns.svc SRV 0 100 80 svc1.testns.svc\nsvc-dual-stack.testns.svc AAAA fd00:10:32::3\n");
    zone.push_str("kubernetes.default.svc A 10.32.0.1\nmultiport.testns.svc SRV 0 33 53 multiport.testns.svc\n");
    zone
}

fn render(table: &[(String, Vec<(&'static str, Result)>)]) -> String {
    let mut out = String::new();
    writeln!(out, "# clusterdns benchmark\n").unwrap();
    writeln!(out, "Server pinned to CPU 0 (CoreDNS with GOMAXPROCS=1, clusterdns with one worker), dnsperf to CPU 1; loopback; no log plugin.").unwrap();
    writeln!(out, "The servers of a mix run side by side and take turns: {ROUNDS} rounds each of saturation for {SATURATION_SECONDS}s, CPU/query at {FIXED_QPS} QPS offered for {FIXED_SECONDS}s and latency for {LATENCY_SECONDS}s at half of clusterdns's saturation QPS; medians of the rounds. CPU/query at saturation is the server's own CPU time per answered query while dnsperf sends as fast as it can: its inverse is the capacity of one core, which holds even when the server's share of the core stays below 1 because one dnsperf thread could not drive it further. The batched client (benches/common/blast.rs: sendmmsg/recvmmsg, 64 per call, 192 in flight, on CPU 1) saturates each server a second time past dnsperf's limit. Only ratios from the same run count.\n").unwrap();
    writeln!(
        out,
        "| mix | server | QPS at saturation | server's core share at saturation | QPS at saturation, batched client | server's core share, batched client | CPU µs/query at saturation | CPU µs/query at {FIXED_QPS} QPS | p50 ms | p99 ms | RSS MiB | CPU 0 to others during latency run |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for (mix, rows) in table {
        for (name, r) in rows {
            writeln!(
                out,
                "| {mix} | {name} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:.1} | {:.0} % |",
                r.qps,
                r.saturated_cpu_share,
                r.batched_qps,
                r.batched_cpu_share,
                r.saturated_cpu_us_per_query,
                r.cpu_us_per_query,
                r.p50_ms,
                r.p99_ms,
                r.rss_mib,
                r.others_on_cpu0 * 100.0
            )
            .unwrap();
        }
    }
    render_ratios(&mut out, table);
    out
}

/// Other server ÷ clusterdns, for CPU per query (saturated and at the
/// fixed rate) and clusterdns ÷ CoreDNS for saturation QPS.
fn render_ratios(out: &mut String, table: &[(String, Vec<(&'static str, Result)>)]) {
    writeln!(out, "\n| mix | CPU/query at saturation CoreDNS ÷ clusterdns (capacity per core) | CPU/query at {FIXED_QPS} QPS CoreDNS ÷ clusterdns | CPU/query at saturation knotd ÷ clusterdns | CPU/query at {FIXED_QPS} QPS knotd ÷ clusterdns | QPS at saturation clusterdns ÷ CoreDNS | QPS at saturation, batched client, clusterdns ÷ CoreDNS | QPS at saturation, batched client, clusterdns ÷ knotd |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|").unwrap();
    for (mix, rows) in table {
        let find = |name: &str| {
            rows.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| r.clone())
        };
        let ours = find("clusterdns").unwrap_or_default();
        let ratio = |other: &Option<Result>, cpu: fn(&Result) -> f64| {
            other
                .as_ref()
                .map(|o| format!("{:.2}×", cpu(o) / cpu(&ours)))
                .unwrap_or_else(|| "–".into())
        };
        let saturated: fn(&Result) -> f64 = |r| r.saturated_cpu_us_per_query;
        let fixed: fn(&Result) -> f64 = |r| r.cpu_us_per_query;
        let (coredns, knotd) = (find("CoreDNS"), find("knotd"));
        let throughput = |other: &Option<Result>, qps: fn(&Result) -> f64| {
            other
                .as_ref()
                .map(|o| format!("{:.2}×", qps(&ours) / qps(o)))
                .unwrap_or_else(|| "–".into())
        };
        let dnsperf_qps: fn(&Result) -> f64 = |r| r.qps;
        let batched_qps: fn(&Result) -> f64 = |r| r.batched_qps;
        writeln!(
            out,
            "| {mix} | {} | {} | {} | {} | {} | {} | {} |",
            ratio(&coredns, saturated),
            ratio(&coredns, fixed),
            ratio(&knotd, saturated),
            ratio(&knotd, fixed),
            throughput(&coredns, dnsperf_qps),
            throughput(&coredns, batched_qps),
            throughput(&knotd, batched_qps),
        )
        .unwrap();
    }
}
