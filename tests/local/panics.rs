//! A panic while serving a query ends only that query: the client gets
//! SERVFAIL, `coredns_panics_total` counts it, CoreDNS's line is logged,
//! and every UDP worker and the TCP listener go on answering. Uses the
//! debug-only `crash` plugin.

use crate::support;

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{query, tcp, udp, udp_raw};
use support::process::Clusterdns;
use support::{free_port, http_get};

/// Sends a query that panics, resending it like a stub resolver (3 tries of
/// 2 s); returns the reply and how many datagrams it took. Each resent
/// datagram panics again, so the count the metric must match is a range.
fn panicking_udp(server: std::net::SocketAddr, name: &str) -> (hickory_proto::op::Message, u32) {
    let packet = query(name, RecordType::A).to_vec().unwrap();
    for sent in 1..=3 {
        if let Some(bytes) = udp_raw(server, &packet, Duration::from_secs(2)) {
            return (hickory_proto::op::Message::from_vec(&bytes).unwrap(), sent);
        }
    }
    panic!("no reply to {name} after 3 tries");
}

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
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" prometheus 127.0.0.1:{metrics}\n crash\n whoami\n"),
    ));
    assert_eq!(panics_total(metrics), 0.0);
    let mut datagrams = 0;
    for n in 0..20 {
        for name in [
            format!("panic.n{n}.example."),
            format!("panic-later.n{n}.example."),
        ] {
            let (reply, sent) = panicking_udp(server.addr(), &name);
            datagrams += sent;
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
    // 40 UDP queries and one TCP query panicked; a datagram resent on a
    // loaded machine panics once more, so the count may exceed 41 by that.
    let most = f64::from(datagrams + 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let counted = loop {
        let total = panics_total(metrics);
        if total >= 41.0 || std::time::Instant::now() > deadline {
            break total;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(counted >= 41.0, "{counted} panics counted, 41 expected");
    assert!(counted <= most, "{counted} panics counted, {most} sent");
    let line = server.wait_for_line("[ERROR] Recovered from panic in server: \"dns://127.0.0.1:");
    assert!(line.contains("crash plugin"), "{line}");
}
