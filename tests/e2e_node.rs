//! The seed's scenario on one real node: `deploy/` applied as an operator
//! would, pods resolving through kube-proxy at 10.32.0.10 with the
//! kubelet's resolv.conf, and the lifecycle the kubelet drives (ConfigMap
//! updates, probes, rolling restarts). See `tests/support/node.rs` for the
//! node itself.
//!
//! One test, in steps, because each step builds on the cluster state the
//! previous one left, and the node takes a minute to start.

mod support;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::node::{Node, STUB_UPSTREAM};
use support::upstream::expected_a;

const BUSYBOX: &str = "clusterdns.invalid/busybox:1";
const DNS_PODS: &str = "k8s-app=kube-dns";

#[test]
fn seed_scenario_on_a_real_node() {
    let node = Node::start();
    let direct = node.dig(&[
        "+short",
        "+tries=1",
        &format!("@{STUB_UPSTREAM}"),
        "stub-check.example.org",
    ]);
    assert_eq!(
        direct.as_deref().map(str::trim),
        Ok(expected_a("stub-check.example.org.").to_string().as_str()),
        "the stub upstream should answer inside the node's namespace"
    );
    deploy(&node);
    workloads(&node);
    seed_lookups(&node);
    lookups_through_kube_proxy(&node);
    let plain = search_path_queries(&node, "ext-plain.example.org");
    configmap_edit_serves(&node);
    let autopath = search_path_queries(&node, "ext-autopath.example.org");
    eprintln!("node: queries for one external name: {plain} without autopath, {autopath} with");
    assert!(
        autopath < plain,
        "autopath should shorten the search path: {autopath} queries with it, {plain} without"
    );
    bad_edit_keeps_serving(&node);
    // Before the rollouts: the pods are older than the probe's 60 s delay.
    liveness_probe_restarts_a_stopped_server(&node);
    rollout_restart_loses_nothing(&node);
}

/// The seed's Corefile from `deploy/seed-corefile`, with the stub in place of 8.8.8.8.
fn seed_configmap() -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/seed-corefile/configmap.yaml"),
    )
    .unwrap();
    assert!(text.contains("forward . 8.8.8.8"));
    text.replace("forward . 8.8.8.8", &format!("forward . {STUB_UPSTREAM}"))
}

/// `kubectl apply -k deploy/swap` unchanged, and the seed's ConfigMap.
fn deploy(node: &Node) {
    let started = Instant::now();
    node.apply(&seed_configmap());
    let swap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/swap");
    node.kubectl(&["apply", "-k", &swap.display().to_string()]);
    rollout_status(node);
    // Ready pods are in the Service's EndpointSlice; kube-proxy then programs them.
    wait_until(Duration::from_secs(60), "10.32.0.10 to answer", || {
        node.dig(&[
            "+short",
            "+tries=1",
            "+time=1",
            "@10.32.0.10",
            "kubernetes.default.svc.cluster.local",
        ])
        .is_ok_and(|a| a.trim() == "10.32.0.1")
    });
    eprintln!(
        "node: deploy/ serving at 10.32.0.10 after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Waits until every replica of the Deployment runs its current template
/// and is available (`kubectl rollout status` can answer from a status the
/// controller has not updated yet).
fn rollout_status(node: &Node) {
    let fields = "jsonpath={.metadata.generation} {.status.observedGeneration} {.spec.replicas} \
        {.status.replicas} {.status.updatedReplicas} {.status.availableReplicas}";
    let started = Instant::now();
    loop {
        let status = node.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "deployment/coredns",
            "-o",
            fields,
        ]);
        let numbers: Vec<u64> = status
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [generation, observed, wanted, replicas, updated, available] = numbers[..]
            && observed >= generation
            && replicas == wanted
            && updated == wanted
            && available == wanted
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "coredns never rolled out ({status}):\n{}\n{}",
            dns_pods(node),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn dns_pods(node: &Node) -> String {
    node.kubectl_try(&dns_pods_args("wide"), None)
        .unwrap_or_else(|e| e)
}

/// `kubectl get pods` of the clusterdns pods, with this `-o`.
fn dns_pods_get(node: &Node, output: &str) -> String {
    node.kubectl(&dns_pods_args(output))
}

fn dns_pods_args(output: &str) -> [&str; 8] {
    [
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        DNS_PODS,
        "-o",
        output,
    ]
}

/// The seed's busybox pod, and an `nginx` Service in front of a busybox httpd.
fn workloads(node: &Node) {
    node.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: busybox\n  namespace: default\nspec:\n  containers:\n  - name: busybox\n    image: {BUSYBOX}\n    command: [sleep, \"3600\"]\n"
    ));
    node.apply(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nginx\n  namespace: default\nspec:\n  selector:\n    matchLabels: {{app: nginx}}\n  template:\n    metadata:\n      labels: {{app: nginx}}\n    spec:\n      containers:\n      - name: nginx\n        image: {BUSYBOX}\n        command: [httpd, -f, -p, \"80\"]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: nginx\n  namespace: default\nspec:\n  selector: {{app: nginx}}\n  ports:\n  - port: 80\n"
    ));
    node.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/busybox",
        "--timeout=120s",
    ]);
}

fn exec_busybox(node: &Node, script: &str) -> Result<String, String> {
    node.kubectl_try(&["exec", "busybox", "--", "sh", "-c", script], None)
}

/// The seed's own checks: `nslookup kubernetes` and `nslookup nginx` with
/// the pod's search path, and a pod's A-record name.
fn seed_lookups(node: &Node) {
    let resolv = exec_busybox(node, "cat /etc/resolv.conf").unwrap();
    for line in [
        "nameserver 10.32.0.10",
        "search default.svc.cluster.local svc.cluster.local cluster.local",
        "options ndots:5",
    ] {
        assert!(
            resolv.contains(line),
            "the kubelet's resolv.conf lacks {line:?}:\n{resolv}"
        );
    }
    // busybox nslookup asks every search-path name and exits 1 when any of
    // them is NXDOMAIN; what counts is the answer it prints.
    let kubernetes = exec_busybox(node, "nslookup kubernetes; true").unwrap();
    assert!(
        kubernetes.contains("10.32.0.1"),
        "nslookup kubernetes:\n{kubernetes}"
    );
    let nginx_ip = node.kubectl(&[
        "get",
        "service",
        "nginx",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let nginx = exec_busybox(node, "nslookup nginx; true").unwrap();
    assert!(
        nginx.contains(&nginx_ip),
        "nslookup nginx (ClusterIP {nginx_ip}):\n{nginx}"
    );
    let pod_ip = node.kubectl(&["get", "pod", "busybox", "-o", "jsonpath={.status.podIP}"]);
    let pod_name = format!("{}.default.pod.cluster.local", pod_ip.replace('.', "-"));
    let pod = exec_busybox(node, &format!("nslookup {pod_name}; true")).unwrap();
    assert!(pod.contains(&pod_ip), "nslookup {pod_name}:\n{pod}");
    let lines = dns_log(node);
    let seen = lines
        .iter()
        .find(|l| l.contains(&format!("\"A IN {pod_name}. udp ")))
        .unwrap_or_else(|| panic!("no log line for {pod_name}:\n{}", lines.join("\n")));
    assert!(
        seen.starts_with(&format!("[INFO] {pod_ip}:")) && seen.contains(" NOERROR qr,aa,rd "),
        "log line not in the seed's format: {seen}"
    );
}

/// UDP and TCP to the ClusterIP, translated by kube-proxy's rules.
fn lookups_through_kube_proxy(node: &Node) {
    for transport in ["+notcp", "+tcp"] {
        let answer = node
            .dig(&[
                transport,
                "+short",
                "@10.32.0.10",
                "kubernetes.default.svc.cluster.local",
            ])
            .unwrap();
        assert_eq!(
            answer.trim(),
            "10.32.0.1",
            "dig {transport} through 10.32.0.10"
        );
    }
}

/// The log lines of every clusterdns pod.
fn dns_log(node: &Node) -> Vec<String> {
    node.kubectl(&[
        "-n",
        "kube-system",
        "logs",
        "-l",
        DNS_PODS,
        "--tail=-1",
        "--prefix=false",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// Resolves an external name from the busybox pod with glibc's resolver
/// (`getent`), which walks the search path in order as most pod images do;
/// returns how many queries that sent to clusterdns (from the log plugin's
/// lines), and checks the stub upstream answered it.
fn search_path_queries(node: &Node, name: &str) -> usize {
    let before = node.stub.names.lock().unwrap().len();
    let output = exec_busybox(node, &format!("getent ahostsv4 {name}; true")).unwrap();
    let want = expected_a(&format!("{name}.")).to_string();
    assert!(
        output.contains(&want),
        "nslookup {name} should give the stub's {want}:\n{output}"
    );
    let forwarded = node.stub.names.lock().unwrap()[before..]
        .iter()
        .filter(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name))
        .count();
    assert!(forwarded >= 1, "the stub upstream never saw {name}");
    let queries = dns_log(node)
        .iter()
        .filter(|l| l.contains(&format!(" IN {name}.")))
        .count();
    assert!(queries >= 1, "no log line for {name}");
    queries
}

fn set_corefile(node: &Node, corefile: &str) {
    let indented: String = corefile.lines().map(|l| format!("    {l}\n")).collect();
    node.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\ndata:\n  Corefile: |\n{indented}"
    ));
}

/// The seed's Corefile with autopath on, and a marker name to see it serve.
fn autopath_corefile() -> String {
    edited_corefile("10.240.0.77", "health")
}

/// The seed's Corefile with autopath on, `health` as given, and
/// `reload-marker.test` answering `marker`.
fn edited_corefile(marker: &str, health: &str) -> String {
    format!(
        ".:53 {{\n    errors\n    {health}\n    ready\n    hosts {{\n      {marker} reload-marker.test\n      fallthrough\n    }}\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n      pods verified\n      fallthrough in-addr.arpa ip6.arpa\n    }}\n    autopath @kubernetes\n    prometheus :9153\n    cache 30\n    loop\n    reload\n    loadbalance\n    log\n    forward . {STUB_UPSTREAM}\n}}\n"
    )
}

/// A pod looking up `kubernetes.default` in a loop, until stopped.
struct LookupLoop {
    worker: JoinHandle<Result<String, String>>,
}

impl LookupLoop {
    fn start(node: &Node) -> LookupLoop {
        exec_busybox(node, "rm -f /tmp/stop").unwrap();
        // Each failed lookup's output is kept, so a failure says how it failed.
        let script = "made=0; failed=0; rm -f /tmp/failed; while [ ! -e /tmp/stop ]; do made=$((made+1)); \
            out=$(nslookup kubernetes.default.svc.cluster.local 2>&1); \
            echo \"$out\" | grep -q '10.32.0.1$' || { failed=$((failed+1)); \
            echo \"$(date +%T) $out\" >> /tmp/failed; }; \
            sleep 0.1; done; echo \"$made $failed\"; cat /tmp/failed 2>/dev/null";
        let mut command = node.kubectl_command();
        command.args(["exec", "busybox", "--", "sh", "-c", script]);
        let worker = std::thread::spawn(move || {
            let out = command.output().map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        });
        LookupLoop { worker }
    }

    /// `(lookups made, lookups failed)`.
    fn stop(self, node: &Node) -> (u64, u64) {
        exec_busybox(node, "touch /tmp/stop").unwrap();
        let out = self.worker.join().unwrap().unwrap();
        let (first, failures) = out.split_once('\n').unwrap_or((&out, ""));
        if !failures.trim().is_empty() {
            eprintln!("node: failed lookups:\n{failures}");
        }
        let counts: Vec<u64> = first
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(counts.len(), 2, "lookup loop printed {out:?}");
        (counts[0], counts[1])
    }
}

/// A ConfigMap edit reaches the pod through the kubelet's volume update and
/// the reload plugin, with no failed lookup meanwhile.
fn configmap_edit_serves(node: &Node) {
    let lookups = LookupLoop::start(node);
    let started = Instant::now();
    set_corefile(node, &autopath_corefile());
    wait_until(
        Duration::from_secs(180),
        "the edited Corefile to serve",
        || {
            node.dig(&["+short", "@10.32.0.10", "reload-marker.test"])
                .is_ok_and(|a| a.trim() == "10.240.0.77")
        },
    );
    let took = started.elapsed();
    let (made, failed) = lookups.stop(node);
    eprintln!(
        "node: edited ConfigMap served after {:.1} s; lookups meanwhile: {made} made, {failed} failed",
        took.as_secs_f64()
    );
    assert!(made > 0);
    assert_eq!(failed, 0, "lookups failed during the reload");
}

/// A Corefile that does not parse: the old one keeps serving, the pods stay Ready.
fn bad_edit_keeps_serving(node: &Node) {
    let failures_before = reload_failures(node);
    let lookups = LookupLoop::start(node);
    let started = Instant::now();
    set_corefile(
        node,
        &autopath_corefile().replace("pods verified", "pods bogus"),
    );
    wait_until(
        Duration::from_secs(180),
        "the bad Corefile to be refused",
        || {
            dns_log(node)
                .iter()
                .any(|l| l.contains("[ERROR] Restart failed"))
        },
    );
    let took = started.elapsed();
    let (made, failed) = lookups.stop(node);
    eprintln!(
        "node: bad ConfigMap refused after {:.1} s; lookups meanwhile: {made} made, {failed} failed",
        took.as_secs_f64()
    );
    assert_eq!(failed, 0, "lookups failed after a bad edit");
    let marker = node
        .dig(&["+short", "@10.32.0.10", "reload-marker.test"])
        .unwrap();
    assert_eq!(
        marker.trim(),
        "10.240.0.77",
        "the old Corefile should still serve"
    );
    let ready = dns_pods_get(
        node,
        "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
    );
    assert!(
        ready.split_whitespace().all(|s| s == "True"),
        "pods not Ready: {ready}"
    );
    assert!(reload_failures(node) >= failures_before);
    set_corefile(node, &autopath_corefile());
}

fn reload_failures(node: &Node) -> usize {
    dns_log(node)
        .iter()
        .filter(|l| l.contains("[ERROR] Restart failed"))
        .count()
}

/// Two replicas, `kubectl rollout restart`: with `health { lameduck 10s }`,
/// lameduck, readiness and the EndpointSlice updates together lose no
/// lookup. Lameduck must outlast the time kube-proxy takes to drop the old
/// pod: with CoreDNS's usual 5 s, one run here on a loaded 2-core machine
/// lost 1 lookup of 56. The seed's plain `health` stops at once on SIGTERM,
/// as CoreDNS does; the step reports what that costs without asserting it.
fn rollout_restart_loses_nothing(node: &Node) {
    node.kubectl(&[
        "-n",
        "kube-system",
        "scale",
        "deployment/coredns",
        "--replicas=2",
    ]);
    rollout_status(node);
    let (made, failed) = rollout_restart(node);
    eprintln!("node: rollout restart without lameduck: {made} lookups made, {failed} failed");
    set_corefile(
        node,
        &edited_corefile("10.240.0.78", "health {\n      lameduck 10s\n    }"),
    );
    wait_until(
        Duration::from_secs(180),
        "the lameduck Corefile to serve",
        || {
            (0..4).all(|_| {
                node.dig(&["+short", "@10.32.0.10", "reload-marker.test"])
                    .is_ok_and(|a| a.trim() == "10.240.0.78")
            })
        },
    );
    let (made, failed) = rollout_restart(node);
    eprintln!("node: rollout restart with lameduck 10s: {made} lookups made, {failed} failed");
    assert!(made > 0);
    assert_eq!(
        failed, 0,
        "lookups failed during the rolling restart with lameduck"
    );
}

/// `(lookups made, lookups failed)` across one `kubectl rollout restart`.
fn rollout_restart(node: &Node) -> (u64, u64) {
    let lookups = LookupLoop::start(node);
    let started = Instant::now();
    node.kubectl(&[
        "-n",
        "kube-system",
        "rollout",
        "restart",
        "deployment/coredns",
    ]);
    rollout_status(node);
    let took = started.elapsed();
    // Lookups go on until the old pods are gone, lameduck and all.
    wait_until(
        Duration::from_secs(120),
        "the old coredns pods to go",
        || dns_pods_get(node, "name").lines().count() == 2,
    );
    std::thread::sleep(Duration::from_secs(2));
    let counts = lookups.stop(node);
    eprintln!(
        "node: rollout restart of 2 replicas took {:.1} s",
        took.as_secs_f64()
    );
    counts
}

/// A server stopped by SIGSTOP answers no probe; the kubelet's liveness
/// probe restarts its container.
fn liveness_probe_restarts_a_stopped_server(node: &Node) {
    let pod = dns_pods_get(node, "jsonpath={.items[0].metadata.name}");
    let restarts = |pod: &str| -> u64 {
        node.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ])
        .trim()
        .parse()
        .unwrap()
    };
    let before = restarts(&pod);
    let container = node.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].containerID}",
    ]);
    let id = container.trim().trim_start_matches("containerd://");
    let tasks = node.ctr(&["tasks", "ls"]);
    let pid: i32 = tasks
        .lines()
        .find(|l| l.starts_with(id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no task {id} in:\n{tasks}"));
    // SAFETY: kill(2) on the container's process, found by its task.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let started = Instant::now();
    wait_until(
        Duration::from_secs(180),
        "the liveness probe to restart the container",
        || restarts(&pod) > before,
    );
    eprintln!(
        "node: stopped server restarted by the liveness probe after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    rollout_status(node);
    let answer = node
        .dig(&[
            "+short",
            "@10.32.0.10",
            "kubernetes.default.svc.cluster.local",
        ])
        .unwrap();
    assert_eq!(answer.trim(), "10.32.0.1");
}

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}
