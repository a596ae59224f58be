//! Side-by-side benchmark: clusterdns, CoreDNS 1.14.7 and knotd on the same
//! records in the same run (only ratios count on a shared 2-core machine).
//! The servers of a mix run at once on their own ports and take turns
//! under load, three rounds each, medians reported. Each server is pinned
//! to CPU 0 and dnsperf to CPU 1; no `log` plugin. For each mix it reports
//! saturation QPS, server CPU time per query at saturation and at a fixed
//! offered load (from /proc/PID/stat), RSS, and latency (p50, p99, p99.9
//! and losses) twice: at half of each server's *own* saturation rate, and
//! at one common rate every server of the mix sustains (half of the
//! slowest one's saturation).
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
//! Mixes:
//! - (a) best case, every query remembered: 11 cluster names of the F1
//!   fixture cycled with no churn, so clusterdns answers every one from its
//!   per-socket memo. CoreDNS runs with and without `cache`.
//! - (b) forwarded names served from cache; (c) uncached forwarded names to
//!   a local knotd upstream.
//! - (d) pod-like, with churn: the default Corefile (kubernetes, cache,
//!   forward) on both servers; thousands of distinct names over 300
//!   Services in 10 namespaces, sent as pods' resolvers send them (A and
//!   AAAA, the `ndots:5` search path's NXDOMAIN misses first, external
//!   names forwarded), in shuffled order, while a Service is created or
//!   deleted through the real apiserver every second. This is the mix the
//!   README's headline ratio comes from.
//! - (e) the seed's Corefile with `log`: mix (d)'s queries and churn on the
//!   seed cluster's Corefile (errors, health, ready, kubernetes,
//!   prometheus, cache, loop, reload, loadbalance, log, forward), each
//!   server's log lines written to a file.
//!
//! All traffic is on 127.0.0.1; every run is bounded. `BENCH_SMOKE=1`
//! shrinks every duration to 1 s, one round and a tenth of mix (d)'s
//! objects, and writes to `target/bench-smoke/` instead of `bench/results/`:
//! CI runs it so the benchmark cannot rot.
//!
//! Run with `bench/run` (which installs dnsperf and knotd and builds the
//! peers); the tables go to `bench/results/latest.md`.

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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    CLUSTER_QUERIES, Run, Server, cpu_busy_seconds, cpu_seconds, dnsperf, percentile, provenance,
    rss_mib, spawn_churn, start_clusterdns, start_clusterdns_logging, start_coredns,
    start_coredns_logging, start_knotd,
};
use support::peers::{Cluster, cluster};

const FIXED_QPS: u32 = 20_000;
/// How often mix (d) creates or deletes a Service.
const CHURN_EVERY: Duration = Duration::from_secs(1);

/// How long each run lasts and how many rounds: the full run, or the
/// smoke run CI makes.
struct Timing {
    saturation: u32,
    fixed: u32,
    latency: u32,
    /// Measurements per server, the servers taking turns; the median is
    /// reported: the machine's noise drifts over seconds, and taking
    /// turns spreads it over all servers.
    rounds: usize,
    /// Mix (d)'s size: namespaces, and of each, ClusterIP and headless
    /// Services; then external names.
    namespaces: usize,
    cluster_ips: usize,
    headless: usize,
    externals: usize,
    smoke: bool,
}

impl Timing {
    fn from_env() -> Timing {
        let smoke = common::smoke();
        if smoke {
            Timing {
                saturation: 1,
                fixed: 1,
                latency: 1,
                rounds: 1,
                namespaces: 2,
                cluster_ips: 2,
                headless: 3,
                externals: 50,
                smoke,
            }
        } else {
            Timing {
                saturation: 5,
                fixed: 6,
                latency: 3,
                rounds: 3,
                namespaces: 10,
                cluster_ips: 10,
                headless: 20,
                externals: 500,
                smoke,
            }
        }
    }
}

/// Latency at one offered rate.
#[derive(Default, Clone, Copy)]
struct Latency {
    rate: u32,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// Share of the queries sent that got no reply.
    lost_share: f64,
}

impl Latency {
    fn of(rate: u32, run: &Run) -> Latency {
        Latency {
            rate,
            p50_ms: percentile(&run.latencies, 0.5) * 1000.0,
            p99_ms: percentile(&run.latencies, 0.99) * 1000.0,
            p999_ms: percentile(&run.latencies, 0.999) * 1000.0,
            lost_share: run.lost / run.sent.max(1.0),
        }
    }
}

/// One server's figures: from one round, or the medians of the rounds.
#[derive(Default, Clone)]
struct Figures {
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
    cpu_us_per_query: f64,
    /// At half of this server's own saturation QPS (of the same round).
    own_half: Latency,
    /// At the mix's common rate.
    common: Latency,
    rss_mib: f64,
    /// Share of CPU 0 that went to anything but the server during the
    /// own-half-load latency run (the apiserver, etcd, interrupts): a
    /// tail-latency suspect on a shared 2-core machine.
    others_on_cpu0: f64,
}

/// Measures the servers of one mix, all running at once on their own
/// ports: a warm-up per server, a first saturation run per server (the
/// slowest one's half is the common latency rate), then `rounds` rounds in
/// which each server in turn is saturated, gets `FIXED_QPS` (CPU per
/// query), then each latency rate. Medians over the rounds are reported.
fn measure_mix(servers: &[Server], queries: &Path, timing: &Timing) -> Vec<Figures> {
    for server in servers {
        // Fills caches and pools.
        dnsperf(
            server.port,
            queries,
            timing.latency.min(2),
            Some(5_000),
            false,
        );
    }
    let slowest = servers
        .iter()
        .map(|server| dnsperf(server.port, queries, timing.latency, None, false).qps)
        .fold(f64::INFINITY, f64::min);
    let common_rate = ((slowest / 2.0) as u32).max(1000);
    let mut samples: Vec<Vec<Figures>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..timing.rounds {
        for (server, samples) in servers.iter().zip(&mut samples) {
            samples.push(sample(server, queries, common_rate, timing));
        }
    }
    servers
        .iter()
        .zip(samples)
        .map(|(server, samples)| Figures {
            rss_mib: rss_mib(server.child.id()),
            ..medians(&samples)
        })
        .collect()
}

/// The median of each figure over the rounds.
fn medians(samples: &[Figures]) -> Figures {
    let median = |f: &dyn Fn(&Figures) -> f64| median(samples.iter().map(f).collect());
    let latency = |pick: fn(&Figures) -> Latency| Latency {
        rate: median(&|s| f64::from(pick(s).rate)) as u32,
        p50_ms: median(&|s| pick(s).p50_ms),
        p99_ms: median(&|s| pick(s).p99_ms),
        p999_ms: median(&|s| pick(s).p999_ms),
        lost_share: median(&|s| pick(s).lost_share),
    };
    Figures {
        qps: median(&|s| s.qps),
        batched_qps: median(&|s| s.batched_qps),
        batched_cpu_share: median(&|s| s.batched_cpu_share),
        saturated_cpu_us_per_query: median(&|s| s.saturated_cpu_us_per_query),
        saturated_cpu_share: median(&|s| s.saturated_cpu_share),
        cpu_us_per_query: median(&|s| s.cpu_us_per_query),
        own_half: latency(|s| s.own_half),
        common: latency(|s| s.common),
        rss_mib: 0.0,
        others_on_cpu0: median(&|s| s.others_on_cpu0),
    }
}

/// The server's CPU seconds over one load run, with the run.
fn with_cpu<T>(pid: u32, run: impl FnOnce() -> T) -> (f64, T) {
    let before = cpu_seconds(pid);
    let result = run();
    (cpu_seconds(pid) - before, result)
}

/// Saturation (dnsperf, then batched), CPU per query at `FIXED_QPS`, then
/// latency at half of this round's own saturation and at `common_rate`.
fn sample(server: &Server, queries: &Path, common_rate: u32, timing: &Timing) -> Figures {
    let pid = server.child.id();
    let per_query = |cpu: f64, run: &Run| cpu / run.completed.max(1.0) * 1e6;
    let (saturated_cpu, saturated) = with_cpu(pid, || {
        dnsperf(server.port, queries, timing.saturation, None, false)
    });
    let (batched_cpu, batched) = with_cpu(pid, || {
        blast::blast(server.port, queries, timing.saturation, 1)
    });
    if batched.lost > batched.completed / 100 {
        eprintln!(
            "compare: {} batched: {} lost, {} completed ({} neither NOERROR nor NXDOMAIN)",
            server.name, batched.lost, batched.completed, batched.failed
        );
    }
    let (fixed_cpu, fixed) = with_cpu(pid, || {
        dnsperf(server.port, queries, timing.fixed, Some(FIXED_QPS), false)
    });
    let own_rate = ((saturated.qps / 2.0) as u32).max(1000);
    let (busy, own) = (cpu_busy_seconds(0), cpu_seconds(pid));
    let at_own = dnsperf(server.port, queries, timing.latency, Some(own_rate), true);
    let others = (cpu_busy_seconds(0) - busy) - (cpu_seconds(pid) - own);
    let at_common = dnsperf(
        server.port,
        queries,
        timing.latency,
        Some(common_rate),
        true,
    );
    let seconds = |s: u32| f64::from(s);
    Figures {
        qps: saturated.qps,
        batched_qps: batched.qps,
        batched_cpu_share: batched_cpu / seconds(timing.saturation),
        saturated_cpu_us_per_query: per_query(saturated_cpu, &saturated),
        saturated_cpu_share: saturated_cpu / seconds(timing.saturation),
        cpu_us_per_query: per_query(fixed_cpu, &fixed),
        own_half: Latency::of(own_rate, &at_own),
        common: Latency::of(common_rate, &at_common),
        rss_mib: 0.0,
        others_on_cpu0: (others / seconds(timing.latency)).max(0.0),
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

/// One mix's rows: each server's label and figures.
type MixRows = (String, Vec<(&'static str, Figures)>);

fn run_mix(label: &str, servers: &[Server], queries: &Path, timing: &Timing) -> MixRows {
    std::thread::sleep(Duration::from_secs(if timing.smoke { 1 } else { 2 }));
    let figures = measure_mix(servers, queries, timing);
    let names = servers.iter().map(|s| s.name);
    (label.to_string(), names.zip(figures).collect())
}

fn labelled(mut server: Server, name: &'static str) -> Server {
    server.name = name;
    server
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` builds and
    // runs this binary without it, and must not start a long benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("compare: run it with bench/run (cargo bench --bench compare)");
        return;
    }
    let timing = Timing::from_env();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let cluster = cluster();
    cluster.apply(include_str!("../tests/fixtures/cluster-f1.yaml"));
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
    let k8s = |extra: &str| {
        format!(
            ".:PORT {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {kubeconfig}\n }}\n {extra}\n}}\n"
        )
    };
    let mut table: Vec<MixRows> = Vec::new();

    // (a) best case: 11 cluster names, every one remembered.
    let cluster_queries: Vec<String> = CLUSTER_QUERIES
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(format!("{} PTR", reverse(svc1))))
        .collect();
    let cluster_file = write_queries(dir, "cluster.txt", &cluster_queries);
    let servers = [
        start_clusterdns(dir, &k8s("")),
        start_coredns(dir, &k8s("")),
        labelled(start_coredns(dir, &k8s("cache 30")), "CoreDNS + cache"),
        start_knotd(dir, &[("cluster.local.", static_cluster_zone(svc1))]),
    ];
    let label = "(a) best case: 11 cluster names, every query remembered";
    table.push(run_mix(label, &servers, &cluster_file, &timing));
    drop(servers);

    // (b) forwarded names from cache, (c) uncached forwards, both to knotd.
    let upstream_names: Vec<String> = (0..2000).map(|i| format!("host{i}.example.org")).collect();
    let upstream = start_knotd(dir, &[("example.org.", upstream_zone(&upstream_names))]);
    let as_a = |names: &[String]| names.iter().map(|n| format!("{n} A")).collect::<Vec<_>>();
    let cached_file = write_queries(dir, "cached.txt", &as_a(&upstream_names[..200]));
    let uncached_file = write_queries(dir, "uncached.txt", &as_a(&upstream_names));
    let forward = format!("forward . 127.0.0.1:{}", upstream.port);
    for (label, extra, file) in [
        (
            "(b) forwarded, cache hits",
            format!("cache 3600\n {forward}"),
            &cached_file,
        ),
        ("(c) forwarded, uncached", forward.clone(), &uncached_file),
    ] {
        let servers = [
            start_clusterdns(dir, &k8s(&extra)),
            start_coredns(dir, &k8s(&extra)),
        ];
        table.push(run_mix(label, &servers, file, &timing));
    }

    // (d) pod-like, with churn, on the default Corefile; (e) the same on
    // the seed's Corefile, with `log`.
    cluster.apply(&pod_like_objects(&timing));
    let default = || default_corefile(cluster, &upstream);
    table.push(pod_like_mix(cluster, dir, &default, false, &timing));
    let seed = || seed_corefile(cluster, &upstream);
    table.push(pod_like_mix(cluster, dir, &seed, true, &timing));
    drop(upstream);

    let command = if timing.smoke {
        "BENCH_SMOKE=1 bench/run"
    } else {
        "bench/run"
    };
    let report = render(&table, &timing, command);
    println!("{report}");
    std::fs::write(common::results_dir(timing.smoke).join("latest.md"), &report).unwrap();
    assert_every_server_answered(&table);
}

/// A smoke run proves only that the benchmark still works: every server
/// of every mix answered under load.
fn assert_every_server_answered(table: &[MixRows]) {
    for (mix, rows) in table {
        for (name, figures) in rows {
            assert!(figures.qps > 0.0, "{mix}: {name} answered nothing");
            assert!(
                figures.own_half.lost_share < 0.5,
                "{mix}: {name} lost most queries"
            );
        }
    }
}

/// Mix (d): the default Corefile of the distributions, without `log`.
fn default_corefile(cluster: &Cluster, upstream: &Server) -> String {
    format!(
        ".:PORT {{\n bind 127.0.0.1\n errors\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods insecure\n  fallthrough in-addr.arpa ip6.arpa\n  ttl 30\n }}\n cache 30\n forward . 127.0.0.1:{}\n loadbalance\n}}\n",
        cluster.kubeconfig.display(),
        upstream.port
    )
}

/// Mix (e): the seed cluster's Corefile (`deploy/seed-corefile/`), `log`
/// on, its HTTP endpoints on free loopback ports (each server its own).
fn seed_corefile(cluster: &Cluster, upstream: &Server) -> String {
    let port = || support::free_port();
    format!(
        ".:PORT {{\n bind 127.0.0.1\n errors\n health 127.0.0.1:{}\n ready 127.0.0.1:{}\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods insecure\n  fallthrough in-addr.arpa ip6.arpa\n }}\n prometheus 127.0.0.1:{}\n cache 30\n loop\n reload\n loadbalance\n log\n forward . 127.0.0.1:{}\n}}\n",
        port(),
        port(),
        cluster.kubeconfig.display(),
        port(),
        upstream.port
    )
}

/// Mixes (d) and (e), on the pod-like Services: writes the pods' queries, and measures clusterdns and CoreDNS on `corefile` while a
/// Service changes every `CHURN_EVERY`. With `log`, both servers' lines go
/// to files, as a container runtime takes them.
fn pod_like_mix(
    cluster: &'static Cluster,
    dir: &Path,
    corefile: &dyn Fn() -> String,
    log: bool,
    timing: &Timing,
) -> MixRows {
    let lines = pod_like_queries(timing);
    let queries = write_queries(dir, "pod-like.txt", &lines);
    let servers = [
        start_clusterdns_logging(dir, &corefile(), log),
        start_coredns_logging(dir, &corefile(), log),
    ];
    let running = Arc::new(AtomicBool::new(true));
    let churn = spawn_churn(
        cluster,
        cluster.namespace("churn"),
        CHURN_EVERY,
        running.clone(),
    );
    let services = timing.namespaces * (timing.cluster_ips + timing.headless);
    let distinct = lines.len();
    let label = if log {
        format!(
            "(e) the seed's Corefile with log, pod-like, {services} Services, {distinct} distinct queries, a Service changed every second"
        )
    } else {
        format!(
            "(d) pod-like, {services} Services, {distinct} distinct queries, a Service changed every second"
        )
    };
    let rows = run_mix(&label, &servers, &queries, timing);
    running.store(false, Ordering::SeqCst);
    let changes = churn.join().unwrap();
    println!("compare: {label}: {changes} cluster changes");
    rows
}

/// Namespaces `app0..`, each with ClusterIP Services `web0..` and headless
/// Services `db0..` with three ready endpoints each.
fn pod_like_objects(timing: &Timing) -> String {
    let mut yaml = String::new();
    for n in 0..timing.namespaces {
        writeln!(
            yaml,
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: app{n}"
        )
        .unwrap();
    }
    for n in 0..timing.namespaces {
        for j in 0..timing.cluster_ips {
            writeln!(yaml, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web{j}\n  namespace: app{n}\nspec:\n  ports:\n  - name: http\n    port: 80").unwrap();
        }
        for j in 0..timing.headless {
            writeln!(yaml, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: db{j}\n  namespace: app{n}\nspec:\n  clusterIP: None\n  ports:\n  - name: tcp\n    port: 5432").unwrap();
            let addresses: Vec<String> = (0..3)
                .map(|k| {
                    format!(
                        "  - addresses: [\"10.64.{n}.{}\"]\n    conditions: {{ready: true}}",
                        j * 3 + k + 1
                    )
                })
                .collect();
            writeln!(yaml, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: db{j}-a\n  namespace: app{n}\n  labels:\n    kubernetes.io/service-name: db{j}\naddressType: IPv4\nports:\n- name: tcp\n  port: 5432\nendpoints:\n{}", addresses.join("\n")).unwrap();
        }
    }
    yaml
}

/// What pods' resolvers send (`ndots:5`, search path `NS.svc.cluster.local
/// svc.cluster.local cluster.local`, A and AAAA): each Service asked from
/// its own namespace by short name and from the next namespace as
/// `SERVICE.NAMESPACE` (one NXDOMAIN miss first); external names through
/// all three misses, then forwarded. Shuffled with a fixed seed, so
/// namespaces and kinds interleave as many pods' queries do.
fn pod_like_queries(timing: &Timing) -> Vec<String> {
    let mut lines = Vec::new();
    let both = |lines: &mut Vec<String>, name: &str| {
        lines.push(format!("{name} A"));
        lines.push(format!("{name} AAAA"));
    };
    for n in 0..timing.namespaces {
        let other = (n + 1) % timing.namespaces;
        let services = (0..timing.cluster_ips)
            .map(|j| format!("web{j}"))
            .chain((0..timing.headless).map(|j| format!("db{j}")));
        for service in services {
            both(&mut lines, &format!("{service}.app{n}.svc.cluster.local"));
            both(
                &mut lines,
                &format!("{service}.app{n}.app{other}.svc.cluster.local"),
            );
            both(&mut lines, &format!("{service}.app{n}.svc.cluster.local"));
        }
    }
    for i in 0..timing.externals {
        let host = format!("host{i}.example.org");
        let asker = i % timing.namespaces;
        for suffix in [
            format!(".app{asker}.svc.cluster.local"),
            ".svc.cluster.local".into(),
            ".cluster.local".into(),
            String::new(),
        ] {
            both(&mut lines, &format!("{host}{suffix}"));
        }
    }
    shuffle(&mut lines);
    lines
}

/// Fisher–Yates with a fixed xorshift seed: the same order every run.
fn shuffle(lines: &mut [String]) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..lines.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lines.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// knotd's upstream zone: every name an A record.
fn upstream_zone(names: &[String]) -> String {
    let mut zone = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns.example.org. admin.example.org. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n",
    );
    for (i, name) in names.iter().enumerate() {
        let label = name.trim_end_matches(".example.org");
        writeln!(zone, "{label} A 192.0.2.{}", i % 250 + 1).unwrap();
    }
    zone
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

fn render(table: &[MixRows], timing: &Timing, command: &str) -> String {
    let mut out = String::new();
    writeln!(out, "# clusterdns benchmark\n").unwrap();
    writeln!(out, "{}\n", provenance(command)).unwrap();
    writeln!(out, "Server pinned to CPU 0 (CoreDNS with GOMAXPROCS=1, clusterdns with one worker), dnsperf to CPU 1; loopback; no log plugin. The servers of a mix run side by side and take turns: {} rounds each of saturation for {}s, CPU/query at {FIXED_QPS} QPS offered for {}s, and latency for {}s at half of the server's own saturation QPS of that round and at the mix's common rate (half of its slowest server's saturation); medians of the rounds. CPU/query at saturation is the server's own CPU time per answered query while dnsperf sends as fast as it can: its inverse is the capacity of one core, which holds even when the server's share of the core stays below 1 because one dnsperf thread could not drive it further. The batched client (benches/common/blast.rs: sendmmsg/recvmmsg, 64 per call, 192 in flight, on CPU 1) saturates each server a second time past dnsperf's limit. Only ratios from the same run count.\n", timing.rounds, timing.saturation, timing.fixed, timing.latency).unwrap();
    render_throughput(&mut out, table);
    render_latency(&mut out, table);
    render_ratios(&mut out, table);
    render_headline(&mut out, table);
    out
}

fn render_throughput(out: &mut String, table: &[MixRows]) {
    writeln!(out, "| mix | server | QPS at saturation | server's core share at saturation | QPS at saturation, batched client | server's core share, batched client | CPU µs/query at saturation | CPU µs/query at {FIXED_QPS} QPS | RSS MiB |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|").unwrap();
    for (mix, rows) in table {
        for (name, r) in rows {
            writeln!(
                out,
                "| {mix} | {name} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
                r.qps,
                r.saturated_cpu_share,
                r.batched_qps,
                r.batched_cpu_share,
                r.saturated_cpu_us_per_query,
                r.cpu_us_per_query,
                r.rss_mib,
            )
            .unwrap();
        }
    }
}

fn render_latency(out: &mut String, table: &[MixRows]) {
    writeln!(out, "\nLatency (ms) and the share of queries lost, at half of each server's own saturation and at the mix's common rate:\n").unwrap();
    writeln!(out, "| mix | server | own half load, QPS | p50 | p99 | p99.9 | lost | common rate, QPS | p50 | p99 | p99.9 | lost | CPU 0 to others during the own-half run |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let cells = |l: &Latency| {
        format!(
            "{} | {:.3} | {:.3} | {:.3} | {:.2} %",
            l.rate,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            l.lost_share * 100.0
        )
    };
    for (mix, rows) in table {
        for (name, r) in rows {
            writeln!(
                out,
                "| {mix} | {name} | {} | {} | {:.0} % |",
                cells(&r.own_half),
                cells(&r.common),
                r.others_on_cpu0 * 100.0
            )
            .unwrap();
        }
    }
}

/// clusterdns against each other server of the mix: capacity per core and
/// CPU at the fixed rate (other ÷ clusterdns), QPS (clusterdns ÷ other).
fn render_ratios(out: &mut String, table: &[MixRows]) {
    writeln!(out, "\n| mix | clusterdns against | capacity per core (CPU/query at saturation, other ÷ clusterdns) | CPU/query at {FIXED_QPS} QPS, other ÷ clusterdns | QPS at saturation, dnsperf, clusterdns ÷ other | QPS at saturation, batched client, clusterdns ÷ other |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for (mix, rows) in table {
        let Some((_, ours)) = rows.iter().find(|(n, _)| *n == "clusterdns") else {
            continue;
        };
        for (name, other) in rows.iter().filter(|(n, _)| *n != "clusterdns") {
            let r = ratios(ours, other);
            writeln!(
                out,
                "| {mix} | {name} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                r[0], r[1], r[2], r[3]
            )
            .unwrap();
        }
    }
}

/// Capacity per core, CPU at the fixed rate, dnsperf QPS, batched QPS.
fn ratios(ours: &Figures, other: &Figures) -> [f64; 4] {
    [
        other.saturated_cpu_us_per_query / ours.saturated_cpu_us_per_query,
        other.cpu_us_per_query / ours.cpu_us_per_query,
        ours.qps / other.qps,
        ours.batched_qps / other.batched_qps,
    ]
}

/// The sentence the README's headline quotes: mix (d) against CoreDNS.
fn render_headline(out: &mut String, table: &[MixRows]) {
    let Some((mix, rows)) = table.iter().find(|(mix, _)| mix.starts_with("(d)")) else {
        return;
    };
    let find = |name: &str| rows.iter().find(|(n, _)| *n == name).map(|(_, f)| f);
    let (Some(ours), Some(coredns)) = (find("clusterdns"), find("CoreDNS")) else {
        return;
    };
    let r = ratios(ours, coredns);
    writeln!(
        out,
        "\nHeadline, {mix}, same Corefile: clusterdns serves {:.2}× CoreDNS's queries per core ({:.2}× the QPS with the batched client, {:.2}× with dnsperf) in {:.1} MiB against {:.1} MiB; p99 at each one's own half load {:.3} ms against {:.3} ms.",
        r[0], r[3], r[2], ours.rss_mib, coredns.rss_mib, ours.own_half.p99_ms, coredns.own_half.p99_ms
    )
    .unwrap();
}
