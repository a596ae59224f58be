//! Scale: memory of clusterdns and CoreDNS on the same large cluster state,
//! and how long an API write takes to change each one's answer.
//!
//! Why: a cluster DNS runs on every cluster, and its memory grows with the
//! cluster (CoreDNS's guidance is `(Pods + Services) / 250 + 56` MB with pods
//! verified). Propagation latency is how long pods see stale answers.
//!
//! Through the real apiserver (no snapshot): `SCALE_SERVICES` headless
//! Services (default 5000), each with an EndpointSlice, `SCALE_ENDPOINTS`
//! ready endpoints in all (default 100000), and `SCALE_PODS` running Pods
//! (default 100000, status patched as a kubelet would). Both servers run
//! `pods verified`, watch that state, and once both answer the last names
//! their RSS is read. Then `SCALE_WRITES` writes (default 400, Service
//! creates and deletes in turn) are timed from the start of the API call
//! until each server's answer changes, polled every [`POLL`]. Both servers
//! answer a write within a few milliseconds of each other, so a 1 ms poll
//! and 200 writes left the p99 comparison to chance.
//!
//! `bench/scale`; the table goes to `bench/results/scale-latest.md`.
//! `BENCH_SMOKE=1` shrinks the defaults to 50 Services, 200 endpoints,
//! 200 Pods and 20 writes and writes to `target/bench-smoke/` instead: CI
//! runs it so the benchmark cannot rot.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use clusterdns::diff::{Proto, exchange};
use futures::StreamExt;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::dns::query;
use support::peers::{Coredns, cluster};
use support::process::Clusterdns;

const NAMESPACE: &str = "scale";
const WRITES_NAMESPACE: &str = "scale-writes";
const CONCURRENCY: usize = 64;
/// How often each server is asked whether a write shows yet.
const POLL: Duration = Duration::from_micros(250);

/// `name` from the environment, else `default` (`smoke_default` in a smoke run).
fn setting(name: &str, default: usize, smoke_default: usize) -> usize {
    let default = if common::smoke() {
        smoke_default
    } else {
        default
    };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: run it with bench/scale");
        return;
    }
    let services = setting("SCALE_SERVICES", 5000, 50);
    let endpoints = setting("SCALE_ENDPOINTS", 100_000, 200);
    let pods = setting("SCALE_PODS", 100_000, 200);
    let writes = setting("SCALE_WRITES", 400, 20);
    let cluster = cluster();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(client(&cluster.kubeconfig));

    let started = Instant::now();
    runtime.block_on(populate(&client, services, endpoints, pods));
    let populate_seconds = started.elapsed().as_secs_f64();
    println!(
        "scale: {services} Services, {endpoints} endpoints, {pods} Pods written in {populate_seconds:.0} s"
    );

    let corefile = ".:PORT {\n bind 127.0.0.1\n ready 127.0.0.1:READY\n kubernetes cluster.local {\n  kubeconfig KUBECONFIG\n  pods verified\n }\n}\n";
    let coredns = Coredns::start(corefile, &cluster.kubeconfig);
    let ours = Clusterdns::start(
        &corefile
            .replace("READY", &support::free_port().to_string())
            .replace("KUBECONFIG", &cluster.kubeconfig.display().to_string()),
    );
    let servers = [("clusterdns", ours.addr()), ("CoreDNS", coredns.addr())];
    for (name, addr) in servers {
        wait_synced(name, addr, services, endpoints, pods);
    }
    std::thread::sleep(Duration::from_secs(10));
    let rss = [
        common::rss_mib(ours.child.id()),
        common::rss_mib(coredns.peer.child.id()),
    ];
    println!(
        "scale: RSS clusterdns {:.0} MiB, CoreDNS {:.0} MiB",
        rss[0], rss[1]
    );

    let latencies = runtime.block_on(time_writes(&client, &servers, writes));
    let text = render(services, endpoints, pods, rss, &latencies);
    println!("{text}");
    let results = common::results_dir(common::smoke());
    std::fs::write(results.join("scale-latest.md"), text).unwrap();
    for (name, latencies) in ["clusterdns", "CoreDNS"].iter().zip(&latencies) {
        assert_eq!(latencies.len(), writes, "{name} saw every write");
    }
}

async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The address of endpoint (and Pod) number `k`: 10.128.0.0 upwards.
fn address(k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + k as u32)
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

async fn populate(client: &kube::Client, services: usize, endpoints: usize, pods: usize) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [NAMESPACE, WRITES_NAMESPACE] {
        let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
    }
    let per_service = endpoints / services.max(1);
    let service_api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    run_all(services, |i| {
        let (service_api, slice_api) = (service_api.clone(), slice_api.clone());
        async move {
            service_api
                .create(&PostParams::default(), &headless_service(i))
                .await
                .unwrap();
            slice_api
                .create(&PostParams::default(), &slice(i, per_service))
                .await
                .unwrap();
        }
    })
    .await;
    run_all(pods, |k| {
        let pod_api = pod_api.clone();
        async move {
            pod_api
                .create(&PostParams::default(), &pod(k))
                .await
                .unwrap();
            let status = json!({"status": {"phase": "Running", "podIP": address(k).to_string(),
                "podIPs": [{"ip": address(k).to_string()}]}});
            pod_api
                .patch_status(
                    &format!("p{k}"),
                    &PatchParams::default(),
                    &Patch::Merge(status),
                )
                .await
                .unwrap();
        }
    })
    .await;
}

/// Runs `task(0..count)` with `CONCURRENCY` in flight.
async fn run_all<F, T>(count: usize, task: T)
where
    T: Fn(usize) -> F,
    F: std::future::Future<Output = ()>,
{
    futures::stream::iter(0..count)
        .map(task)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

fn headless_service(i: usize) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": format!("s{i}")},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    }))
    .unwrap()
}

fn slice(i: usize, per_service: usize) -> EndpointSlice {
    let endpoints: Vec<_> = (0..per_service)
        .map(|j| {
            json!({"addresses": [address(i * per_service + j).to_string()],
                   "conditions": {"ready": true}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("s{i}-a"), "labels": {"kubernetes.io/service-name": format!("s{i}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .unwrap()
}

fn pod(k: usize) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("p{k}")},
        "spec": {"containers": [{"name": "c", "image": "scale.invalid/none"}]}
    }))
    .unwrap()
}

fn answers(addr: SocketAddr, name: &str) -> Option<(ResponseCode, usize)> {
    let reply = exchange(
        addr,
        &query(name, RecordType::A),
        Proto::Udp,
        Duration::from_secs(1),
    )
    .ok()?;
    Some((reply.metadata.response_code, reply.answers.len()))
}

/// Waits until `addr` answers the last Service with all its endpoints and
/// the last Pod by its dashed name.
fn wait_synced(name: &str, addr: SocketAddr, services: usize, endpoints: usize, pods: usize) {
    let per_service = endpoints / services.max(1);
    let last_service = format!("s{}.{NAMESPACE}.svc.cluster.local.", services - 1);
    let last_pod = format!(
        "{}.{NAMESPACE}.pod.cluster.local.",
        dashed(address(pods - 1))
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let service_ok = answers(addr, &last_service) == Some((ResponseCode::NoError, per_service));
        let pod_ok = answers(addr, &last_pod) == Some((ResponseCode::NoError, 1));
        if service_ok && pod_ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not sync the scale state"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Creates and deletes Services in turn; for each write, the time from the
/// start of the API call until each server's answer shows it.
async fn time_writes(
    client: &kube::Client,
    servers: &[(&'static str, SocketAddr)],
    writes: usize,
) -> Vec<Vec<f64>> {
    let api: Api<Service> = Api::namespaced(client.clone(), WRITES_NAMESPACE);
    let mut latencies = vec![Vec::new(); servers.len()];
    for write in 0..writes {
        let name = format!("w{}", write / 2);
        let fqdn = format!("{name}.{WRITES_NAMESPACE}.svc.cluster.local.");
        let creating = write % 2 == 0;
        let pollers: Vec<_> = servers
            .iter()
            .map(|&(_, addr)| {
                let fqdn = fqdn.clone();
                std::thread::spawn(move || wait_change(addr, &fqdn, creating))
            })
            .collect();
        let started = Instant::now();
        if creating {
            let service: Service = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}
            }))
            .unwrap();
            api.create(&PostParams::default(), &service).await.unwrap();
        } else {
            api.delete(&name, &DeleteParams::default()).await.unwrap();
        }
        for (i, poller) in pollers.into_iter().enumerate() {
            let changed_at = tokio::task::block_in_place(|| poller.join().unwrap());
            latencies[i].push(changed_at.saturating_duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    latencies
}

/// Polls every [`POLL`] until the name resolves (or stops resolving).
fn wait_change(addr: SocketAddr, fqdn: &str, creating: bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = Instant::now();
        let changed = match answers(addr, fqdn) {
            Some((ResponseCode::NoError, n)) => creating == (n > 0),
            Some((ResponseCode::NXDomain, _)) => !creating,
            _ => false,
        };
        if changed {
            return now;
        }
        assert!(now < deadline, "{fqdn} did not change on {addr}");
        std::thread::sleep(POLL);
    }
}

fn render(
    services: usize,
    endpoints: usize,
    pods: usize,
    rss: [f64; 2],
    latencies: &[Vec<f64>],
) -> String {
    let mut text = String::new();
    writeln!(
        text,
        "# Scale: {services} Services, {endpoints} ready endpoints, {pods} Pods (pods verified)\n"
    )
    .unwrap();
    let command = format!(
        "{}SCALE_SERVICES={services} SCALE_ENDPOINTS={endpoints} SCALE_PODS={pods} bench/scale",
        if common::smoke() {
            "BENCH_SMOKE=1 "
        } else {
            ""
        }
    );
    writeln!(text, "{}\n", common::provenance(&command)).unwrap();
    let guidance = (pods + services) as f64 / 250.0 + 56.0;
    writeln!(
        text,
        "| server | RSS (MiB) | propagation p50 (ms) | p99 (ms) | max (ms) | writes |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    for (i, name) in ["clusterdns", "CoreDNS"].iter().enumerate() {
        let mut sorted = latencies[i].clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        writeln!(
            text,
            "| {name} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            rss[i],
            common::percentile(&sorted, 0.5),
            common::percentile(&sorted, 0.99),
            sorted.last().copied().unwrap_or(f64::NAN),
            sorted.len()
        )
        .unwrap();
    }
    writeln!(
        text,
        "\nRSS clusterdns ÷ CoreDNS: {:.2} (target ≤ 0.33). CoreDNS's sizing guidance for this state: {guidance:.0} MB.",
        rss[0] / rss[1]
    )
    .unwrap();
    writeln!(
        text,
        "Propagation: time from the start of the API call (Service create or delete) until the server's answer changes, polled every 0.25 ms over UDP; target p99 ≤ 100 ms and below CoreDNS's."
    )
    .unwrap();
    text
}
