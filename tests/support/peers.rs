//! The real peers for end-to-end tests: etcd + kube-apiserver (+ the
//! EndpointSlice controller of kube-controller-manager) and CoreDNS, built by
//! `tools/peers/build.sh`. Nothing here is a fake: objects are written with
//! the real kubectl and read back by the real servers.
//!
//! The cluster is started once per test binary, on free loopback ports.
//! Children are started from one long-lived thread with PDEATHSIG set, so
//! they die with the test process even though statics are never dropped.
//! A missing peer fails the test with the command that builds it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use super::free_port;

/// Where the peer binaries are.
pub struct PeerBins {
    pub k8s: PathBuf,
    pub coredns: PathBuf,
    /// Only the chart's tests need it: see `PeerBins::helm`.
    helm_dir: PathBuf,
}

impl PeerBins {
    /// From `CLUSTERDNS_K8S_BIN` / `CLUSTERDNS_COREDNS_BIN`, else the cache
    /// directories named by `tools/peers/versions.env`. Panics when absent.
    pub fn locate() -> PeerBins {
        let versions = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/peers/versions.env"),
        )
        .expect("tools/peers/versions.env");
        let version = |key: &str| {
            versions
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .expect(key)
                .trim()
                .to_string()
        };
        let cache = std::env::var("CLUSTERDNS_PEERS_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/clusterdns-peers")
            });
        let k8s = std::env::var("CLUSTERDNS_K8S_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache.join(format!("k8s-{}/bin", version("K8S_VERSION"))));
        let coredns = std::env::var("CLUSTERDNS_COREDNS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache.join(format!("coredns-{}/bin", version("COREDNS_VERSION"))));
        let helm_dir = std::env::var("CLUSTERDNS_HELM_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache.join(format!("helm-{}/bin", version("HELM_VERSION"))));
        let bins = PeerBins {
            k8s,
            coredns,
            helm_dir,
        };
        for binary in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kubectl",
        ] {
            bins.require(&bins.k8s.join(binary));
        }
        bins.require(&bins.coredns.join("coredns"));
        bins
    }

    /// The helm binary; panics when absent.
    pub fn helm(&self) -> PathBuf {
        let path = self.helm_dir.join("helm");
        self.require(&path);
        path
    }

    fn require(&self, path: &Path) {
        assert!(
            path.is_file(),
            "test peer {} is missing: run tools/peers/build.sh (tools/test does it)",
            path.display()
        );
    }
}

/// Spawns children from one thread that lives as long as the process, with
/// PDEATHSIG, so no peer outlives the tests.
fn spawn(command: Command) -> Child {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut command, reply) in receiver {
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe and touches no memory of ours.
                unsafe {
                    command.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(sender)
    });
    let (reply, result) = mpsc::channel();
    sender.lock().unwrap().send((command, reply)).unwrap();
    result.recv().unwrap().expect("spawn peer")
}

fn logged(program: &Path, log: &Path) -> Command {
    let mut command = Command::new(program);
    let file = std::fs::File::create(log).expect("peer log");
    command
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null());
    command
}

/// A process killed on drop.
pub struct Peer {
    pub child: Child,
    pub log: PathBuf,
}

impl Peer {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// etcd + kube-apiserver with token auth and a kubeconfig.
pub struct Cluster {
    pub bins: PeerBins,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub api_port: u16,
    etcd: Mutex<Option<Peer>>,
    apiserver: Mutex<Option<Peer>>,
    controllers: OnceLock<Peer>,
}

/// A second kube-apiserver on the cluster's etcd (see `Cluster::second_apiserver`).
pub struct SecondApiserver {
    pub peer: Peer,
    pub kubeconfig: PathBuf,
}

/// The cluster shared by the tests of one binary.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

pub const ADMIN_TOKEN: &str = "clusterdns-test-admin";

impl Cluster {
    fn start() -> Cluster {
        let bins = PeerBins::locate();
        let dir = tempfile::tempdir().expect("cluster dir");
        let run = dir.path();
        openssl(&["genrsa", "-out", &path(run, "sa.key"), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            &path(run, "sa.key"),
            "-pubout",
            "-out",
            &path(run, "sa.pub"),
        ]);
        client_certificates(run);
        std::fs::write(
            run.join("tokens.csv"),
            format!("{ADMIN_TOKEN},admin,admin,\"system:masters\"\n"),
        )
        .unwrap();
        let api_port = free_port();
        let kubeconfig = run.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(api_port, ADMIN_TOKEN)).unwrap();
        let cluster = Cluster {
            bins,
            dir,
            kubeconfig,
            api_port,
            etcd: Mutex::new(None),
            apiserver: Mutex::new(None),
            controllers: OnceLock::new(),
        };
        cluster.start_etcd();
        cluster.start_apiserver();
        cluster.wait_ready();
        cluster
    }

    fn start_etcd(&self) {
        let run = self.dir.path();
        let (client, peer) = (free_port(), free_port());
        let mut command = logged(&self.bins.k8s.join("etcd"), &run.join("etcd.log"));
        command.args([
            "--name=p",
            &format!("--data-dir={}", path(run, "etcd")),
            "--unsafe-no-fsync",
            "--log-level=warn",
            &format!("--listen-client-urls=http://127.0.0.1:{client}"),
            &format!("--advertise-client-urls=http://127.0.0.1:{client}"),
            &format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            &format!("--initial-cluster=p=http://127.0.0.1:{peer}"),
        ]);
        std::fs::write(run.join("etcd.port"), client.to_string()).unwrap();
        *self.etcd.lock().unwrap() = Some(Peer {
            child: spawn(command),
            log: run.join("etcd.log"),
        });
    }

    fn etcd_port(&self) -> u16 {
        std::fs::read_to_string(self.dir.path().join("etcd.port"))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Starts (or restarts) kube-apiserver on the same port and etcd.
    pub fn start_apiserver(&self) {
        let log = self.dir.path().join("apiserver.log");
        let command = self.apiserver_command(self.api_port, "pki", &log);
        *self.apiserver.lock().unwrap() = Some(Peer {
            child: spawn(command),
            log,
        });
    }

    fn apiserver_command(&self, port: u16, cert_dir: &str, log: &Path) -> Command {
        let run = self.dir.path();
        let mut command = logged(&self.bins.k8s.join("kube-apiserver"), log);
        command.args([
            &format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port()),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            &format!("--secure-port={port}"),
            &format!("--cert-dir={}", path(run, cert_dir)),
            "--service-cluster-ip-range=10.32.0.0/24,fd00:10:32::/112",
            &format!("--token-auth-file={}", path(run, "tokens.csv")),
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            &format!("--service-account-key-file={}", path(run, "sa.pub")),
            &format!("--service-account-signing-key-file={}", path(run, "sa.key")),
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            &format!("--client-ca-file={}", path(run, "client-ca.crt")),
        ]);
        command
    }

    /// `(client certificate, client key, CA of the serving certificate)`
    /// for the `tls` option: the client is `system:masters` by certificate,
    /// and the CA is the apiserver's self-signed bundle.
    pub fn tls_files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let run = self.dir.path();
        (
            run.join("client.crt"),
            run.join("client.key"),
            run.join("pki/apiserver.crt"),
        )
    }

    /// The CA that signs client certificates (not the serving one).
    pub fn client_ca(&self) -> PathBuf {
        self.dir.path().join("client-ca.crt")
    }

    /// A second kube-apiserver on the same etcd, with its own port and
    /// kubeconfig, ready when returned: the cluster keeps changing through it
    /// while the first one is down. Stopped when dropped.
    pub fn second_apiserver(&self) -> SecondApiserver {
        let port = free_port();
        let log = self.dir.path().join("apiserver2.log");
        let command = self.apiserver_command(port, "pki2", &log);
        let kubeconfig = self.dir.path().join("kubeconfig2");
        std::fs::write(&kubeconfig, kubeconfig_text(port, ADMIN_TOKEN)).unwrap();
        let second = SecondApiserver {
            peer: Peer {
                child: spawn(command),
                log,
            },
            kubeconfig,
        };
        self.wait_ready_at(&second.kubeconfig, &second.peer);
        second
    }

    /// etcd's current revision, from its JSON gateway.
    pub fn etcd_revision(&self) -> u64 {
        let reply = self.etcd_call("/v3/kv/range", r#"{"key":"AA==","limit":1}"#);
        let header = &reply["header"]["revision"];
        header
            .as_str()
            .and_then(|r| r.parse().ok())
            .or_else(|| header.as_u64())
            .unwrap_or_else(|| panic!("no revision in {reply}"))
    }

    /// Compacts etcd's history up to its current revision (what the
    /// apiserver's periodic compaction does), so older resource versions
    /// answer 410 Gone. Returns the revision.
    pub fn compact_etcd(&self) -> u64 {
        let revision = self.etcd_revision();
        self.etcd_call(
            "/v3/kv/compaction",
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        );
        revision
    }

    fn etcd_call(&self, path: &str, body: &str) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}{path}", self.etcd_port());
        let response = reqwest::blocking::Client::new()
            .post(&url)
            .body(body.to_string())
            .send()
            .unwrap_or_else(|e| panic!("etcd {path}: {e}"));
        assert!(response.status().is_success(), "etcd {path}: {response:?}");
        serde_json::from_str(&response.text().unwrap()).expect("etcd JSON")
    }

    /// Stops kube-apiserver (the state stays in etcd).
    pub fn stop_apiserver(&self) {
        self.apiserver.lock().unwrap().take();
    }

    /// Waits for /readyz and the default namespaces and Service.
    pub fn wait_ready(&self) {
        let guard = self.apiserver.lock().unwrap();
        let peer = guard.as_ref().expect("the apiserver is started");
        self.wait_ready_at(&self.kubeconfig, peer);
    }

    fn wait_ready_at(&self, kubeconfig: &Path, apiserver: &Peer) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let get = |args: &[&str]| self.kubectl_at(kubeconfig, args, None);
        loop {
            let ready = get(&["get", "--raw", "/readyz"]).is_ok_and(|o| o.trim() == "ok");
            let defaults = ready
                && get(&["get", "namespace", "default", "kube-system", "-o", "name"]).is_ok()
                && get(&[
                    "get",
                    "service",
                    "kubernetes",
                    "-n",
                    "default",
                    "-o",
                    "name",
                ])
                .is_ok();
            if defaults {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "kube-apiserver did not become ready; log tail:\n{}",
                    tail(&apiserver.log_text(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs kubectl against the cluster as admin; panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_try(args, None)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    /// `kubectl apply -f -` with `yaml`.
    pub fn apply(&self, yaml: &str) -> String {
        self.kubectl_try(&["apply", "-f", "-"], Some(yaml))
            .unwrap_or_else(|e| panic!("kubectl apply: {e}\n{yaml}"))
    }

    pub fn kubectl_try(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        self.kubectl_at(&self.kubeconfig, args, stdin)
    }

    /// kubectl with another kubeconfig (e.g. a second apiserver's).
    pub fn kubectl_at(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, String> {
        let mut command = Command::new(self.bins.k8s.join("kubectl"));
        command
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(args);
        run_with_input(command, stdin).map_err(|(_, stderr)| stderr)
    }

    /// Starts kube-controller-manager's EndpointSlice, namespace and GC
    /// controllers (once).
    pub fn start_controllers(&self) {
        self.controllers.get_or_init(|| {
            let run = self.dir.path();
            let log = run.join("controller-manager.log");
            let mut command = logged(&self.bins.k8s.join("kube-controller-manager"), &log);
            command.args([
                &format!("--kubeconfig={}", self.kubeconfig.display()),
                &format!("--authentication-kubeconfig={}", self.kubeconfig.display()),
                &format!("--authorization-kubeconfig={}", self.kubeconfig.display()),
                "--leader-elect=false",
                "--controllers=endpointslice-controller,endpointslice-mirroring-controller,namespace-controller,garbage-collector-controller",
                "--bind-address=127.0.0.1",
                &format!("--secure-port={}", free_port()),
            ]);
            Peer { child: spawn(command), log }
        });
    }

    /// A fresh namespace for one test.
    pub fn namespace(&self, prefix: &str) -> String {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id() % 100_000);
        self.kubectl(&["create", "namespace", &name]);
        name
    }
}

/// A ClusterIP Service `name` in `namespace` with port 80, for `apply`.
pub fn service_yaml(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  ports: [{{port: 80}}]\n"
    )
}

/// A kubeconfig for the test apiserver with a bearer token.
pub fn kubeconfig_text(port: u16, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: user\ncurrent-context: test\n"
    )
}

/// A CA for client certificates and an admin client certificate signed by it.
fn client_certificates(run: &Path) {
    let file = |name: &str| path(run, name);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=clusterdns-test-client-ca",
        "-keyout",
        &file("client-ca.key"),
        "-out",
        &file("client-ca.crt"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/O=system:masters/CN=tls-admin",
        "-keyout",
        &file("client.key"),
        "-out",
        &file("client.csr"),
    ]);
    // Extensions make it an X.509 v3 certificate (rustls refuses v1).
    std::fs::write(
        run.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-extfile",
        &file("client.ext"),
        "-days",
        "2",
        "-in",
        &file("client.csr"),
        "-CA",
        &file("client-ca.crt"),
        "-CAkey",
        &file("client-ca.key"),
        "-CAcreateserial",
        "-out",
        &file("client.crt"),
    ]);
}

/// Runs a command with `stdin` as its input: its stdout, or on failure
/// `(stdout, stderr)`.
pub fn run_with_input(
    mut command: Command,
    stdin: Option<&str>,
) -> Result<String, (String, String)> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| (String::new(), e.to_string()))?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .map_err(|e| (String::new(), e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| (String::new(), e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err((stdout, String::from_utf8_lossy(&output.stderr).into_owned()))
    }
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "openssl {args:?} failed");
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A real CoreDNS serving a Corefile on 127.0.0.1.
pub struct Coredns {
    pub peer: Peer,
    pub port: u16,
    pub ready_port: u16,
    _dir: tempfile::TempDir,
}

impl Coredns {
    /// Starts CoreDNS with `corefile`, replacing `PORT`, `READY` and
    /// `KUBECONFIG`; waits until `/ready` answers 200.
    pub fn start(corefile: &str, kubeconfig: &Path) -> Coredns {
        let bins = PeerBins::locate();
        let dir = tempfile::tempdir().unwrap();
        let (port, ready_port) = (free_port(), free_port());
        let text = corefile
            .replace("PORT", &port.to_string())
            .replace("READY", &ready_port.to_string())
            .replace("KUBECONFIG", &kubeconfig.display().to_string());
        let file = dir.path().join("Corefile");
        std::fs::write(&file, text).unwrap();
        let log = dir.path().join("coredns.log");
        let mut command = logged(&bins.coredns.join("coredns"), &log);
        command.arg("-conf").arg(&file);
        let coredns = Coredns {
            peer: Peer {
                child: spawn(command),
                log,
            },
            port,
            ready_port,
            _dir: dir,
        };
        coredns.wait_ready();
        coredns
    }

    /// `/ready` can answer 200 just before the DNS listeners open, so this
    /// waits for both.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready =
                super::http_get(self.ready_port, "/ready").is_some_and(|(status, _)| status == 200);
            if ready && std::net::TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "CoreDNS did not become ready:\n{}",
            tail(&self.peer.log_text(), 30)
        );
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Polls `check` every 100 ms until it returns Some, or panics after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
