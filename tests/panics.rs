//! A panic while serving a query ends only that query: the client gets
//! SERVFAIL, `coredns_panics_total` counts it, CoreDNS's line is logged,
//! and every UDP worker and the TCP listener go on answering. Uses the
//! debug-only `crash` plugin.

mod support;

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{query, tcp, udp};
use support::process::Clusterdns;
use support::{free_port, http_get};

fn panics_total(metrics_port: u16) -> f64 {
    let (_, body) = http_get(metrics_port, "/metrics").expect("metrics");
    body.lines()
        .find_map(|l| l.strip_prefix("coredns_panics_total "))
        .and_then(|v| v.parse().ok())
        .expect("coredns_panics_total")
}

#[test]
fn a_panic_answers_servfail_is_counted_and_every_worker_keeps_serving() {
    let metrics = free_port();
    let server = Clusterdns::start(&format!(
        ".:PORT {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n crash\n whoami\n}}\n"
    ));
    assert_eq!(panics_total(metrics), 0.0);
    for n in 0..20 {
        for name in [
            format!("panic.n{n}.example."),
            format!("panic-later.n{n}.example."),
        ] {
            let reply = udp(server.addr(), &query(&name, RecordType::A));
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::ServFail,
                "{name}"
            );
        }
        let after = udp(
            server.addr(),
            &query(&format!("fine.n{n}.example."), RecordType::A),
        );
        assert_eq!(after.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            after.additionals.len(),
            2,
            "whoami answered after the panic"
        );
    }
    let over_tcp = tcp(server.addr(), &query("panic.tcp.example.", RecordType::A));
    assert_eq!(over_tcp.metadata.response_code, ResponseCode::ServFail);
    let fine = tcp(server.addr(), &query("fine.tcp.example.", RecordType::A));
    assert_eq!(fine.metadata.response_code, ResponseCode::NoError);
    support::peers::eventually(Duration::from_secs(5), "41 panics counted", || {
        (panics_total(metrics) == 41.0).then_some(())
    });
    let line = server.wait_for_line("[ERROR] Recovered from panic in server: \"dns://127.0.0.1:");
    assert!(line.contains("crash plugin"), "{line}");
}
