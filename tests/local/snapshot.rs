//! The snapshot source: the README's demo, re-reading a changed file, and
//! keeping the last good data when the file turns invalid.

use crate::support;

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use support::dns::{addresses, query, udp};
use support::free_port;
use support::peers::eventually;
use support::process::Clusterdns;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The demo Corefile with its HTTP ports moved to free ones and the
/// snapshot path made absolute.
fn demo_corefile() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{root}/demo/Corefile"))
        .unwrap()
        .replace(". {", ".:PORT {\n    bind 127.0.0.1")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", free_port()))
        .replace("127.0.0.1:8181", &format!("127.0.0.1:{}", free_port()))
        .replace("127.0.0.1:9153", &format!("127.0.0.1:{}", free_port()))
        .replace(
            "demo/seed-cluster.yaml",
            &format!("{root}/demo/seed-cluster.yaml"),
        )
}

#[test]
fn the_demo_serves_the_seed_cluster() {
    let server = Clusterdns::start(&demo_corefile());
    let a = |name: &str| addresses(&udp(server.addr(), &query(name, RecordType::A)));
    assert_eq!(
        a("kubernetes.default.svc.cluster.local."),
        vec![ip("10.32.0.1")]
    );
    assert_eq!(
        a("kube-dns.kube-system.svc.cluster.local."),
        vec![ip("10.32.0.10")]
    );
    assert_eq!(
        a("nginx.default.svc.cluster.local."),
        vec![ip("10.32.0.37")]
    );
    let mut web = a("web.default.svc.cluster.local.");
    web.sort();
    assert_eq!(
        web,
        vec![ip("10.200.0.20"), ip("10.200.1.21")],
        "headless Service with two pods"
    );
    assert_eq!(
        a("web-1.web.default.svc.cluster.local."),
        vec![ip("10.200.1.21")]
    );
    assert_eq!(
        a("10-200-0-11.default.pod.cluster.local."),
        vec![ip("10.200.0.11")],
        "pods insecure"
    );
    let srv = udp(
        server.addr(),
        &query(
            "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
            RecordType::SRV,
        ),
    );
    assert!(matches!(&srv.answers[0].data, RData::SRV(s) if s.port == 53 && s.weight == 100));
    let ptr = udp(
        server.addr(),
        &query("10.0.32.10.in-addr.arpa.", RecordType::PTR),
    );
    assert!(
        matches!(&ptr.answers[0].data, RData::PTR(p) if p.0.to_ascii() == "kube-dns.kube-system.svc.cluster.local.")
    );
    let missing = udp(
        server.addr(),
        &query("missing.default.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(missing.answers.len(), 0);
    assert_eq!(missing.authorities[0].ttl, 30, "SOA TTL = min(ttl, 300)");
}

const ONE_SERVICE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n  clusterIP: ADDR\n  clusterIPs: [ADDR]\n  ports: [{port: 80}]\n";

#[test]
fn a_changed_snapshot_is_reread_and_an_invalid_one_keeps_the_last_good_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot.yaml");
    std::fs::write(&file, ONE_SERVICE.replace("ADDR", "10.32.0.50")).unwrap();
    let corefile = support::block(
        ".",
        &format!(
            " kubernetes cluster.local {{\n  snapshot {}\n }}\n",
            file.display()
        ),
    );
    let server = Clusterdns::start(&corefile);
    let name = "web.default.svc.cluster.local.";
    assert_eq!(
        addresses(&udp(server.addr(), &query(name, RecordType::A))),
        vec![ip("10.32.0.50")]
    );

    std::fs::write(&file, ONE_SERVICE.replace("ADDR", "10.32.0.51")).unwrap();
    eventually(Duration::from_secs(10), "the re-read snapshot", || {
        (addresses(&udp(server.addr(), &query(name, RecordType::A))) == vec![ip("10.32.0.51")])
            .then_some(())
    });

    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nspec: [not, a, map]\n",
    )
    .unwrap();
    server.wait_for_line("keeping the last good data");
    assert_eq!(
        addresses(&udp(server.addr(), &query(name, RecordType::A))),
        vec![ip("10.32.0.51")]
    );
}

#[test]
fn an_invalid_snapshot_at_startup_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, "kind: Service\nspec: 7\n").unwrap();
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(
            ".:1 {{\n kubernetes cluster.local {{\n  snapshot {}\n }}\n}}\n",
            file.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(support::process::binary())
        .arg("-conf")
        .arg(&corefile)
        .arg("-check")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("plugin/kubernetes: snapshot "),
        "{stderr}"
    );
    assert!(stderr.contains("Service: invalid object"), "{stderr}");
}
