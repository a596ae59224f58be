//! An API server that never answers: serving starts after `startup_timeout`
//! with CoreDNS's warning, would-be NXDOMAIN answers are SERVFAIL (aa, with
//! the SOA), names that need no data still answer, and `/ready` is 503,
//! already during the startup wait.

use crate::support;

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{query, udp};
use support::process::Clusterdns;
use support::{free_port, http_get};

#[test]
fn unsynced_kubernetes_gives_servfail_for_name_errors_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = free_port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        support::peers::kubeconfig_text(closed_port, "nobody"),
    )
    .unwrap();
    let ready_port = free_port();
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:{ready_port}\n kubernetes cluster.local {{\n  kubeconfig {}\n  startup_timeout 1s\n }}\n",
            kubeconfig.display()
        ),
    );
    let dns_port = free_port();
    let started = Instant::now();
    let first_probe = std::thread::spawn(move || first_answer(ready_port, dns_port, started));
    let server = Clusterdns::start_on(&corefile, dns_port);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "listeners held for startup_timeout"
    );
    let (status, dns_open) = first_probe.join().unwrap();
    assert_eq!(status, 503, "/ready during the startup wait");
    assert!(!dns_open, "/ready answered only once DNS was listening");
    server
        .wait_for_line("[WARNING] plugin/kubernetes: starting server with unsynced Kubernetes API");
    server.wait_for_line(
        "[INFO] plugin/kubernetes: waiting for Kubernetes API before starting server",
    );

    let reply = udp(
        server.addr(),
        &query("svc0.testns.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail, "V39");
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.authorities.len(), 1, "SOA in authority");
    let version = udp(
        server.addr(),
        &query("dns-version.cluster.local.", RecordType::TXT),
    );
    assert_eq!(version.metadata.response_code, ResponseCode::NoError);
    assert_eq!(version.answers.len(), 1);
    let apex = udp(server.addr(), &query("cluster.local.", RecordType::SOA));
    assert_eq!(apex.answers.len(), 1);

    assert_eq!(
        http_get(ready_port, "/ready"),
        Some((503, "kubernetes".to_string()))
    );
    server.wait_for_line("[INFO] plugin/ready: Plugins not ready: \"kubernetes\"");
    // An API server that never answers is reported every 5 s while serving.
    let line =
        server.wait_for_line("[WARNING] plugin/kubernetes: Kubernetes API still not synced after");
    assert!(
        line.ends_with("s: the initial lists have not arrived"),
        "{line}"
    );
}

/// The status `/ready` first answered with, and whether the DNS port
/// accepted connections by then.
fn first_answer(port: u16, dns_port: u16, since: Instant) -> (u16, bool) {
    while since.elapsed() < Duration::from_secs(10) {
        if let Some((status, _)) = http_get(port, "/ready") {
            let dns_open = std::net::TcpStream::connect(("127.0.0.1", dns_port)).is_ok();
            return (status, dns_open);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("/ready never answered");
}
