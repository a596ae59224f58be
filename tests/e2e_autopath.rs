//! autopath against the real apiserver: client pods whose `status.podIP` is
//! a loopback address (patched through the status subresource, as a kubelet
//! would), and queries sent from that address. Compared with CoreDNS on the
//! same state and from the same sources; the query count of a pod's
//! external lookup is measured with and without autopath.

mod support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use clusterdns::diff::compare;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::dns::{addresses, query};
use support::peers::{Cluster, Coredns, cluster, eventually};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};

const CLIENT: &str = "127.0.0.23";
const STRANGER: &str = "127.0.0.99";

fn pod(cluster: &Cluster, namespace: &str, name: &str, ip: &str) {
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  containers: [{{name: c, image: registry.invalid/none:1}}]\n"
    ));
    let status =
        format!(r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}]}}}}"#);
    cluster.kubectl(&[
        "patch",
        "pod",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

/// Seeds the namespaces, the Service and the client pod once per binary.
fn seed(cluster: &Cluster) {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    SEEDED.get_or_init(|| seed_once(cluster));
}

fn seed_once(cluster: &Cluster) {
    for ns in ["test-1", "test-2"] {
        cluster.kubectl_try(&["create", "namespace", ns], None).ok();
    }
    cluster.apply("apiVersion: v1\nkind: Service\nmetadata: {name: svc-1-a, namespace: test-1}\nspec:\n  ports: [{name: http, port: 80}]\n");
    pod(cluster, "test-1", "client", CLIENT);
}

/// Sends `name` from `source` (a loopback address) and returns the reply.
fn ask_from(source: &str, server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let socket = UdpSocket::bind((source, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let msg = query(name, qtype);
    let mut buffer = vec![0u8; 65535];
    for _ in 0..3 {
        socket.send_to(&msg.to_vec().unwrap(), server).unwrap();
        if let Ok((length, _)) = socket.recv_from(&mut buffer) {
            return Message::from_vec(&buffer[..length]).unwrap();
        }
    }
    panic!("no reply to {name} from {server}");
}

fn corefile(stub: &Stub, autopath: bool) -> String {
    let autopath = if autopath {
        " autopath @kubernetes\n"
    } else {
        ""
    };
    support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n log\n{autopath} kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig KUBECONFIG\n  pods verified\n }}\n forward . {}\n",
            stub.addr
        ),
    )
}

fn start_ours(cluster: &Cluster, corefile: &str) -> Clusterdns {
    let text = corefile
        .replace("READY", &support::free_port().to_string())
        .replace("KUBECONFIG", &cluster.kubeconfig.display().to_string());
    Clusterdns::start(&text)
}

fn cname_target(reply: &Message) -> Option<String> {
    reply.answers.first().and_then(|r| match &r.data {
        RData::CNAME(target) => Some(target.0.to_ascii()),
        _ => None,
    })
}

fn wait_for_client(server: SocketAddr, ip: &str, wanted_cname: &str) {
    eventually(
        Duration::from_secs(20),
        "the client pod in the index",
        || {
            let reply = ask_from(
                ip,
                server,
                "svc-1-a.test-1.test-1.svc.cluster.local.",
                RecordType::A,
            );
            (cname_target(&reply).as_deref() == Some(wanted_cname)).then_some(())
        },
    );
}

#[test]
fn autopath_walks_the_pods_search_path() {
    let cluster = cluster();
    seed(cluster);
    let stub = Stub::start(Mode::Answer);
    let ours = start_ours(cluster, &corefile(&stub, true));
    let server = ours.addr();
    wait_for_client(server, CLIENT, "svc-1-a.test-1.svc.cluster.local.");
    let service_ip: IpAddr = cluster
        .kubectl(&[
            "get",
            "svc",
            "svc-1-a",
            "-n",
            "test-1",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .parse()
        .unwrap();

    // The three examples of CoreDNS's CI.
    let direct = ask_from(
        CLIENT,
        server,
        "svc-1-a.test-1.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        cname_target(&direct),
        None,
        "found at the first element: no CNAME"
    );
    assert_eq!(addresses(&direct), vec![service_ip]);
    for name in [
        "svc-1-a.test-1.test-1.svc.cluster.local.",
        "svc-1-a.test-1.svc.test-1.svc.cluster.local.",
    ] {
        let reply = ask_from(CLIENT, server, name, RecordType::A);
        assert_eq!(
            cname_target(&reply).as_deref(),
            Some("svc-1-a.test-1.svc.cluster.local."),
            "{name}"
        );
        assert_eq!(addresses(&reply), vec![service_ip]);
        assert_eq!(
            reply.queries[0].name().to_ascii(),
            name,
            "the original question"
        );
    }
    // An external name through the stub upstream.
    let external = ask_from(
        CLIENT,
        server,
        "foo.example.net.test-1.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(external.metadata.response_code, ResponseCode::NoError);
    assert_eq!(cname_target(&external).as_deref(), Some("foo.example.net."));
    assert_eq!(addresses(&external).len(), 1);

    // A client that is not a pod: passed through unchanged.
    let stranger = ask_from(
        STRANGER,
        server,
        "foo.example.net.test-1.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(stranger.metadata.response_code, ResponseCode::NXDomain);

    // Q15, fixed: exactly `<podns>.svc.<zone>` passes through (NODATA, not SERVFAIL).
    let apex = ask_from(CLIENT, server, "test-1.svc.cluster.local.", RecordType::A);
    assert_eq!(apex.metadata.response_code, ResponseCode::NoError);
    assert!(apex.answers.is_empty());
}

#[test]
fn a_reused_pod_ip_follows_the_new_namespace() {
    let cluster = cluster();
    seed(cluster);
    let stub = Stub::start(Mode::Answer);
    let ours = start_ours(cluster, &corefile(&stub, true));
    let reused = "127.0.0.24";
    pod(cluster, "test-1", "first", reused);
    wait_for_client(ours.addr(), reused, "svc-1-a.test-1.svc.cluster.local.");
    cluster.kubectl(&[
        "delete",
        "pod",
        "first",
        "-n",
        "test-1",
        "--grace-period=0",
        "--force",
    ]);
    pod(cluster, "test-2", "second", reused);
    eventually(
        Duration::from_secs(20),
        "the new namespace's search path",
        || {
            let reply = ask_from(
                reused,
                ours.addr(),
                "foo.example.net.test-2.svc.cluster.local.",
                RecordType::A,
            );
            (cname_target(&reply).as_deref() == Some("foo.example.net.")).then_some(())
        },
    );
    let old = ask_from(
        reused,
        ours.addr(),
        "foo.example.net.test-1.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        old.metadata.response_code,
        ResponseCode::NXDomain,
        "the old namespace no longer walks"
    );
}

#[test]
fn autopath_matches_coredns_from_the_same_sources() {
    let cluster = cluster();
    seed(cluster);
    let stub = Stub::start(Mode::Answer);
    let corefile = corefile(&stub, true);
    let coredns = Coredns::start(&corefile, &cluster.kubeconfig);
    let ours = start_ours(cluster, &corefile);
    wait_for_client(coredns.addr(), CLIENT, "svc-1-a.test-1.svc.cluster.local.");
    wait_for_client(ours.addr(), CLIENT, "svc-1-a.test-1.svc.cluster.local.");
    let names = [
        "svc-1-a.test-1.svc.cluster.local.",
        "svc-1-a.test-1.test-1.svc.cluster.local.",
        "svc-1-a.test-1.svc.test-1.svc.cluster.local.",
        "foo.example.net.test-1.svc.cluster.local.",
        "nxdomain.example.net.test-1.svc.cluster.local.",
        "SVC-1-A.Test-1.Test-1.svc.cluster.local.",
        "svc-1-a.svc.test-1.svc.cluster.local.",
        "kubernetes.default.test-1.svc.cluster.local.",
        "missing.test-1.svc.cluster.local.",
        "example.com.",
        "a.b.c.test-1.svc.cluster.local.",
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for source in [CLIENT, STRANGER] {
        for name in names {
            for qtype in [
                RecordType::A,
                RecordType::AAAA,
                RecordType::SRV,
                RecordType::TXT,
            ] {
                compared += 1;
                let theirs = ask_from(source, coredns.addr(), name, qtype);
                let mine = ask_from(source, ours.addr(), name, qtype);
                let differences = compare(&theirs, &mine);
                if !differences.is_empty() {
                    failures.push(format!("{source} {name} {qtype}: {differences:?}"));
                }
            }
        }
    }
    println!(
        "autopath differential: {compared} queries, {} differing",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A stub resolver's walk with `ndots:5` and the kubelet search list.
fn resolve_like_a_pod(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    for suffix in [
        "test-1.svc.cluster.local.",
        "svc.cluster.local.",
        "cluster.local.",
    ] {
        let reply = ask_from(CLIENT, server, &format!("{name}.{suffix}"), qtype);
        if reply.metadata.response_code != ResponseCode::NXDomain {
            return reply;
        }
    }
    ask_from(CLIENT, server, &format!("{name}."), qtype)
}

#[test]
fn an_external_lookup_costs_one_query_with_autopath() {
    let cluster = cluster();
    seed(cluster);
    let stub = Stub::start(Mode::Answer);
    let with = start_ours(cluster, &corefile(&stub, true));
    let without = start_ours(cluster, &corefile(&stub, false));
    wait_for_client(with.addr(), CLIENT, "svc-1-a.test-1.svc.cluster.local.");
    let count = |server: &Clusterdns| {
        server
            .lines()
            .iter()
            .filter(|l| {
                l.starts_with(&format!("[INFO] {CLIENT}:")) && l.contains("www.example.com")
            })
            .count()
    };
    let (before_with, before_without) = (count(&with), count(&without));
    for qtype in [RecordType::A, RecordType::AAAA] {
        let a = resolve_like_a_pod(with.addr(), "www.example.com", qtype);
        let b = resolve_like_a_pod(without.addr(), "www.example.com", qtype);
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert_eq!(b.metadata.response_code, ResponseCode::NoError);
    }
    // Log lines reach us through a pipe: wait for the expected ones (or
    // 5 s), then a little longer, so a late extra line would still count.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (count(&with) - before_with < 2 || count(&without) - before_without < 8)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (with_queries, without_queries) =
        (count(&with) - before_with, count(&without) - before_without);
    println!(
        "www.example.com from a pod, A+AAAA: {with_queries} queries with autopath, {without_queries} without"
    );
    assert_eq!(with_queries, 2, "one query per type");
    assert_eq!(without_queries, 8, "the whole walk per type");
}
