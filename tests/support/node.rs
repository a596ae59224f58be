//! One real Kubernetes node for the seed's scenario: `tests/node/node` runs
//! etcd, kube-apiserver, the controllers, kube-scheduler, containerd, the
//! kubelet and kube-proxy inside a network namespace made here, with no
//! route out; this side drives it with the real kubectl and counts what the
//! pods asked.
//!
//! Everything the test touches goes through `ip netns exec`: the apiserver,
//! the ClusterIPs and the pods exist only in the namespace. The stub upstream
//! that stands in for 8.8.8.8 binds 10.240.0.53 there too (a socket keeps the
//! namespace it was made in).

use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::{PeerBins, run_with_input};
use super::upstream::{Mode, Stub};

/// The upstream the node's Corefile forwards to, in place of 8.8.8.8.
pub const STUB_UPSTREAM: &str = "10.240.0.53";

pub struct Node {
    pub dir: tempfile::TempDir,
    pub netns: String,
    supervisor: Child,
    pub stub: Stub,
    k8s_bin: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Node {
    /// Brings the node up (about a minute) and waits until it is Ready.
    pub fn start() -> Node {
        let bins = PeerBins::locate();
        for binary in ["kubelet", "kube-proxy", "kube-scheduler"] {
            let path = bins.k8s.join(binary);
            assert!(
                path.is_file(),
                "test peer {} is missing: run tools/peers/build.sh (tools/test does it)",
                path.display()
            );
        }
        cleanup(None);
        let dir = tempfile::Builder::new()
            .prefix("clusterdns-node-")
            .tempdir()
            .expect("node dir");
        images(&dir.path().join("images"));
        let netns = format!("clusterdns-node-{}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &netns]));
        let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
        let mut supervisor = Command::new("unshare");
        // nsenter, not `ip netns exec`: that remounts /sys, which hides the
        // cgroup mounts the kubelet and runc need.
        supervisor
            .args(["-m", "--propagation", "private", "nsenter"])
            .arg(format!("--net=/run/netns/{netns}"))
            .arg(repo().join("tests/node/node"))
            .arg(dir.path())
            .env("K8S_BIN", &bins.k8s)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        // SIGTERM, not SIGKILL: the node script's trap then stops its daemons.
        unsafe {
            supervisor.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut supervisor = supervisor.spawn().expect("tests/node/node");
        wait_ready(&mut supervisor, dir.path());
        Node {
            supervisor,
            stub: stub_in(&netns),
            dir,
            netns,
            k8s_bin: bins.k8s,
        }
    }

    /// The tail of every daemon's log, for a failure message.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }

    /// A command run inside the node's network namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, program]);
        command
    }

    /// kubectl inside the namespace, with the node's kubeconfig.
    pub fn kubectl_command(&self) -> Command {
        let mut command = self.command(&self.k8s_bin.join("kubectl").display().to_string());
        command.arg(format!(
            "--kubeconfig={}",
            self.dir.path().join("kubeconfig").display()
        ));
        command
    }

    pub fn kubectl_try(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut command = self.kubectl_command();
        command.args(args);
        output(command, stdin)
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_try(args, None)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}\n{}", self.logs()))
    }

    pub fn apply(&self, yaml: &str) -> String {
        self.kubectl_try(&["apply", "-f", "-"], Some(yaml))
            .unwrap_or_else(|e| panic!("kubectl apply: {e}\n{yaml}"))
    }

    /// `dig` from the node itself (through kube-proxy's OUTPUT rules).
    pub fn dig(&self, args: &[&str]) -> Result<String, String> {
        let mut command = self.command("dig");
        command.args(args);
        output(command, None)
    }

    /// The containerd client on the node's socket.
    pub fn ctr(&self, args: &[&str]) -> String {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["-n", "k8s.io"])
            .args(args);
        output(command, None).unwrap_or_else(|e| panic!("ctr {args:?}: {e}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the supervisor's own process group.
        unsafe {
            libc::kill(-(self.supervisor.id() as i32), libc::SIGTERM);
        }
        let _ = self.supervisor.wait();
        cleanup(Some(&self.netns));
        if std::env::var_os("CLUSTERDNS_NODE_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("node: run directory kept at {}", dir.keep().display());
        }
    }
}

fn wait_ready(supervisor: &mut Child, run: &Path) {
    let started = Instant::now();
    while !run.join("ready").exists() {
        if let Ok(Some(status)) = supervisor.try_wait() {
            panic!("the node stopped ({status}):\n{}", logs(run));
        }
        if started.elapsed() > Duration::from_secs(300) {
            panic!("the node was not Ready in 300 s:\n{}", logs(run));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("node: Ready in {:.1} s", started.elapsed().as_secs_f64());
}

/// The tail of every daemon's log in a run directory.
fn logs(run: &Path) -> String {
    let mut text = String::new();
    let mut files = vec![run.join("node.log")];
    if let Ok(entries) = std::fs::read_dir(run.join("logs")) {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = body.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        text.push_str(&format!("==> {} <==\n{tail}\n", file.display()));
    }
    text
}

fn cleanup(netns: Option<&str>) {
    let mut command = Command::new(repo().join("tests/node/cleanup"));
    command.args(netns);
    let _ = command.status();
}

/// The three images the node imports: clusterdns from `tools/image` (the
/// release script), pause and busybox from `tests/node/images`.
fn images(out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let release = repo().join(format!(
        "target/image/clusterdns-{version}-linux-amd64.oci.tar"
    ));
    if !release.is_file() {
        run(Command::new(repo().join("tools/image")).current_dir(repo()));
    }
    std::fs::copy(&release, out.join("clusterdns.oci.tar")).expect("clusterdns image");
    let pause = out.join("pause");
    run(Command::new("gcc")
        .args(["-static", "-Os", "-s", "-o"])
        .arg(&pause)
        .arg(repo().join("tests/node/pause.c")));
    run(Command::new(repo().join("tests/node/images"))
        .arg(out)
        .arg(&pause));
}

/// The stand-in for 8.8.8.8: a stub upstream bound inside the namespace, at
/// the address the node script keeps for it. Bound once the node is Ready:
/// bound while the node was still starting, its replies never reached the
/// client (seen, not explained), so `e2e_node` checks it answers first.
fn stub_in(netns: &str) -> Stub {
    let path = format!("/run/netns/{netns}");
    let (udp, tcp) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let namespace = std::fs::File::open(&path).expect("netns file");
                // SAFETY: setns on this short-lived thread only; the sockets
                // made here keep the namespace after the thread ends.
                let entered = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(entered, 0, "setns {path}");
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let address = format!("{STUB_UPSTREAM}:53");
                    if let (Ok(udp), Ok(tcp)) =
                        (UdpSocket::bind(&address), TcpListener::bind(&address))
                    {
                        return (udp, tcp);
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{address} never appeared in {netns}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .join()
            .unwrap()
    });
    Stub::serve(udp, tcp, Mode::Answer, 300)
}

fn run(command: &mut Command) {
    let status = command.status().expect("spawn");
    assert!(status.success(), "{command:?}: {status}");
}

fn output(command: Command, stdin: Option<&str>) -> Result<String, String> {
    run_with_input(command, stdin).map_err(|(stdout, stderr)| format!("{stdout}{stderr}"))
}
