//! What the benchmarks share: starting pinned servers, driving dnsperf,
//! reading a process's CPU time and RSS from /proc, changing the cluster
//! during a run, and the provenance line every results file starts with.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::support::free_port;
use super::support::peers::{Cluster, PeerBins, eventually};

/// Cluster names of the F1 fixture (`tests/fixtures/cluster-f1.yaml`):
/// A/AAAA/SRV answers and the search-path misses a pod's resolver sends.
pub const CLUSTER_QUERIES: &[&str] = &[
    "svc1.testns.svc.cluster.local A",
    "svc1.testns.svc.cluster.local AAAA",
    "hdls1.testns.svc.cluster.local A",
    "_http._tcp.svc1.testns.svc.cluster.local SRV",
    "svc-dual-stack.testns.svc.cluster.local AAAA",
    "kubernetes.default.svc.cluster.local A",
    "multiport.testns.svc.cluster.local SRV",
    "api.example.com.testns.svc.cluster.local A",
    "api.example.com.svc.cluster.local A",
    "api.example.com.cluster.local A",
];

pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn pinned(program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command
        .arg("-c")
        .arg("0")
        .arg(program)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

pub fn wait_listening(port: u16) {
    eventually(Duration::from_secs(30), "the server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
}

pub fn start_clusterdns(dir: &Path, corefile: &str) -> Server {
    start_clusterdns_logging(dir, corefile, false)
}

pub fn start_coredns(dir: &Path, corefile: &str) -> Server {
    start_coredns_logging(dir, corefile, false)
}

/// Where a server's stdout goes: with `to_file`, a file in `dir` (what a
/// container runtime does with a `log` plugin's lines), else nowhere.
fn stdout_for(dir: &Path, name: &str, port: u16, to_file: bool) -> Stdio {
    if !to_file {
        return Stdio::null();
    }
    let path = dir.join(format!("{name}-{port}.log"));
    Stdio::from(std::fs::File::create(path).expect("log file"))
}

/// clusterdns on `corefile` (`PORT` replaced), stdout to a file with `log_to_file`.
pub fn start_clusterdns_logging(dir: &Path, corefile: &str, log_to_file: bool) -> Server {
    let port = free_port();
    let path = dir.join(format!("clusterdns-{port}.Corefile"));
    std::fs::write(&path, corefile.replace("PORT", &port.to_string())).unwrap();
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/clusterdns");
    let child = pinned(&binary)
        .stdout(stdout_for(dir, "clusterdns", port, log_to_file))
        .arg("-conf")
        .arg(&path)
        .spawn()
        .expect("clusterdns");
    wait_listening(port);
    Server {
        name: "clusterdns",
        child,
        port,
    }
}

/// CoreDNS (GOMAXPROCS=1) on `corefile`, stdout to a file with `log_to_file`.
pub fn start_coredns_logging(dir: &Path, corefile: &str, log_to_file: bool) -> Server {
    let port = free_port();
    let path = dir.join(format!("coredns-{port}.Corefile"));
    std::fs::write(&path, corefile.replace("PORT", &port.to_string())).unwrap();
    let binary = PeerBins::locate().coredns.join("coredns");
    let child = pinned(&binary)
        .stdout(stdout_for(dir, "coredns", port, log_to_file))
        .env("GOMAXPROCS", "1")
        .arg("-conf")
        .arg(&path)
        .spawn()
        .expect("coredns");
    wait_listening(port);
    Server {
        name: "CoreDNS",
        child,
        port,
    }
}

pub fn start_knotd(dir: &Path, zones: &[(&str, String)]) -> Server {
    let port = free_port();
    let run = dir.join(format!("knot-{port}"));
    std::fs::create_dir_all(&run).unwrap();
    let mut config = format!(
        "server:\n  listen: 127.0.0.1@{port}\n  rundir: {0}\n  background-workers: 1\n  udp-workers: 1\n  tcp-workers: 1\ndatabase:\n  storage: {0}\nlog:\n  - target: stderr\n    any: error\nzone:\n",
        run.display()
    );
    for (zone, text) in zones {
        let file = run.join(format!("{zone}zone"));
        std::fs::write(&file, text).unwrap();
        writeln!(config, "  - domain: {zone}\n    file: {}", file.display()).unwrap();
    }
    let conf = run.join("knot.conf");
    std::fs::write(&conf, config).unwrap();
    let child = pinned(Path::new("knotd"))
        .arg("-c")
        .arg(&conf)
        .spawn()
        .expect("knotd");
    wait_listening(port);
    Server {
        name: "knotd",
        child,
        port,
    }
}

/// CPU seconds (user + system) of a process so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// Seconds CPU `cpu` spent busy (everything but idle and iowait) since
/// boot, from `/proc/stat`; whoever ran there.
pub fn cpu_busy_seconds(cpu: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let label = format!("cpu{cpu} ");
    let Some(line) = stat.lines().find(|l| l.starts_with(&label)) else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let (idle, iowait) = (ticks.get(3), ticks.get(4));
    let total: f64 = ticks.iter().take(8).sum();
    (total - idle.unwrap_or(&0.0) - iowait.unwrap_or(&0.0)) / 100.0
}

/// The real server process (taskset execs, so the child PID is the server).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

pub struct Run {
    pub qps: f64,
    pub sent: f64,
    pub completed: f64,
    pub lost: f64,
    /// dnsperf's "Response codes" line, e.g. `[("NOERROR", 900.0), ("NXDOMAIN", 100.0)]`.
    pub rcodes: Vec<(String, f64)>,
    pub latencies: Vec<f64>,
    /// Datagrams the kernel dropped at dnsperf's own full sockets.
    pub client_drops: u64,
}

pub fn dnsperf(port: u16, queries: &Path, seconds: u32, rate: Option<u32>, verbose: bool) -> Run {
    let mut command = Command::new("taskset");
    command
        .args([
            "-c",
            "1",
            "dnsperf",
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
        ])
        .arg(queries);
    command.args([
        "-l",
        &seconds.to_string(),
        "-c",
        "8",
        "-q",
        "200",
        "-t",
        "2",
        // 4 MB socket buffers: a short stall of dnsperf's own thread must
        // not drop replies and count them as the server's losses.
        "-b",
        "4096",
    ]);
    if let Some(rate) = rate {
        command.args(["-Q", &rate.to_string()]);
    }
    if verbose {
        command.arg("-v");
    }
    let (text, client_drops) = run_watching_drops(command.stdout(Stdio::piped()));
    let number = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let latencies = if verbose {
        let mut values: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with('>'))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .collect();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        values
    } else {
        Vec::new()
    };
    Run {
        qps: number("Queries per second:"),
        sent: number("Queries sent:"),
        completed: number("Queries completed:"),
        lost: number("Queries lost:"),
        rcodes: response_codes(&text),
        latencies,
        client_drops,
    }
}

/// Runs dnsperf to its end, reading its stdout on a thread (a verbose run
/// prints a line per query and would fill the pipe), and samples the drop
/// counters of its own UDP sockets every 100 ms meanwhile. Returns the
/// output and the datagrams the kernel dropped at those sockets: replies
/// lost because dnsperf, starved of CPU, did not read them in time.
fn run_watching_drops(command: &mut Command) -> (String, u64) {
    let mut child = command.spawn().expect("dnsperf (installed by bench/run)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).ok();
        text
    });
    let mut drops = std::collections::HashMap::new();
    while child.try_wait().expect("dnsperf").is_none() {
        for (inode, count) in process_udp_drops(child.id()) {
            let seen = drops.entry(inode).or_insert(0);
            *seen = count.max(*seen);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (reader.join().unwrap(), drops.values().sum())
}

/// The kernel's drop counter of each UDP socket `pid` holds, by inode:
/// its descriptors (`/proc/PID/fd` → `socket:[INODE]`) matched against
/// `/proc/net/udp` and `udp6`. Only this process's sockets, so another
/// process's drops are never taken for the harness's.
pub fn process_udp_drops(pid: u32) -> Vec<(u64, u64)> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: std::collections::HashSet<u64> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let text = target.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    udp_socket_rows()
        .into_iter()
        .filter(|row| inodes.contains(&row.inode))
        .map(|row| (row.inode, row.drops))
        .collect()
}

/// One socket of `/proc/net/udp` or `udp6`.
struct UdpSocketRow {
    /// The local port.
    port: u16,
    inode: u64,
    /// Datagrams dropped because the receive buffer was full.
    drops: u64,
}

fn udp_socket_rows() -> Vec<UdpSocketRow> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let port = fields.get(1)?.rsplit(':').next()?;
                    Some(UdpSocketRow {
                        port: u16::from_str_radix(port, 16).ok()?,
                        inode: fields.get(9)?.parse().ok()?,
                        drops: fields.last()?.parse().ok()?,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Parses `Response codes:       NOERROR 80 (80.00%), NXDOMAIN 20 (20.00%)`.
fn response_codes(text: &str) -> Vec<(String, f64)> {
    let Some(line) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Response codes:"))
    else {
        return Vec::new();
    };
    line.split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let code = words.next()?.to_string();
            let count = words.next()?.parse().ok()?;
            Some((code, count))
        })
        .collect()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Datagrams the kernel dropped on the UDP sockets bound to `port` (their
/// receive buffers were full), from /proc/net/udp and /proc/net/udp6.
pub fn udp_drops(port: u16) -> u64 {
    udp_socket_rows()
        .iter()
        .filter(|row| row.port == port)
        .map(|row| row.drops)
        .sum()
}

/// Creates and deletes a ClusterIP Service in `ns` every `every` through
/// the real apiserver until `running` is cleared, so the servers' data is
/// rebuilt (and remembered replies dropped) during the run, as a live
/// cluster's rollouts do. Returns the number of changes made.
pub fn spawn_churn(
    cluster: &'static Cluster,
    ns: String,
    every: Duration,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut changes = 0;
        let mut next = Instant::now();
        while running.load(Ordering::SeqCst) {
            if Instant::now() >= next {
                let name = format!("churn-{}", changes / 2);
                let result = if changes % 2 == 0 {
                    let create = ["create", "service", "clusterip", &name, "--tcp=80:80"];
                    let args: Vec<&str> = create.iter().copied().chain(["-n", &ns]).collect();
                    cluster.kubectl_try(&args, None)
                } else {
                    cluster.kubectl_try(&["delete", "service", &name, "-n", &ns], None)
                };
                changes += usize::from(result.is_ok());
                next += every;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        changes
    })
}

/// Where a results file's figures come from: the commit (and whether the
/// tree had uncommitted changes), the machine's CPU model and core count,
/// the date and the command. A figure quoted without this line cannot be
/// traced to a run.
pub fn provenance(command: &str) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Provenance: commit {commit}{dirty}; {cpu}, {cores} cores; {date}; command `{command}`."
    )
}

/// `BENCH_SMOKE=1`: a benchmark runs tiny, only to show it still works.
pub fn smoke() -> bool {
    std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// Where a run's results go: `bench/results/`, whose figures the READMEs
/// quote, or for a smoke run `target/bench-smoke/`, so that it never
/// overwrites them.
pub fn results_dir(smoke: bool) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(if smoke {
        "target/bench-smoke"
    } else {
        "bench/results"
    });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
