//! loop: the seed's failure mode (a server forwarding to itself) is fatal
//! with CoreDNS's line; a normal upstream is not. loadbalance: answers are
//! shuffled, CNAMEs first.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};
use support::dns::{query, udp, with_edns};
use support::free_port;
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};

#[test]
fn a_server_forwarding_to_itself_exits_with_the_loop_message() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(".:{port} {{\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:{port}\n}}\n"),
    )
    .unwrap();
    let mut server = Clusterdns::spawn(&corefile, &[], dir);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the loop was not detected"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let line = server.wait_for_line("[FATAL] plugin/loop: Loop (127.0.0.1:");
    let pattern = regex::Regex::new(&format!(
        r#"^\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{port}\) detected for zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO \d+\.\d+\."$"#
    ))
    .unwrap();
    assert!(pattern.is_match(&line), "{line}");
}

#[test]
fn a_real_upstream_is_not_a_loop() {
    let stub = Stub::start(Mode::Answer);
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" loop\n forward . {}\n", stub.addr),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.queries() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stub.queries() >= 1, "the probe went upstream");
    std::thread::sleep(Duration::from_millis(300));
    let reply = udp(server.addr(), &query("www.example.org.", RecordType::A));
    assert_eq!(reply.answers.len(), 1, "still serving");
    assert!(
        stub.queries() >= 2,
        "the probe went upstream once, then the query"
    );
}

#[test]
fn loadbalance_shuffles_addresses_and_keeps_cnames_first() {
    let stub = Stub::start(Mode::Big);
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" loadbalance\n forward . {}\n", stub.addr),
    ));
    let mut orders = BTreeSet::new();
    for _ in 0..10 {
        let reply = udp(
            server.addr(),
            &with_edns(query("lb.example.org.", RecordType::A), 4096, false),
        );
        let order: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(order.len(), 40);
        orders.insert(order);
    }
    assert!(
        orders.len() > 5,
        "orders vary: {} distinct of 10",
        orders.len()
    );

    let snapshot = format!(
        "{}/tests/fixtures/f1-snapshot.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let k8s = Clusterdns::start(&support::block(
        ".",
        &format!(" loadbalance\n kubernetes cluster.local {{\n  snapshot {snapshot}\n }}\n"),
    ));
    for _ in 0..5 {
        let reply = udp(
            k8s.addr(),
            &query(
                "external-to-service.testns.svc.cluster.local.",
                RecordType::A,
            ),
        );
        assert!(
            matches!(reply.answers[0].data, RData::CNAME(_)),
            "CNAME first"
        );
    }
}

#[test]
fn identical_queries_for_several_addresses_are_shuffled_every_time_not_remembered() {
    let snapshot = format!(
        "{}/tests/fixtures/f1-snapshot.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " errors\n loadbalance\n kubernetes cluster.local {{\n  snapshot {snapshot}\n }}\n"
        ),
    ));
    let packet = query("hdls1.testns.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    let mut orders = BTreeSet::new();
    for id in 0..40u16 {
        let mut packet = packet.clone();
        packet[..2].copy_from_slice(&id.to_be_bytes());
        let reply = support::dns::udp_expect(server.addr(), &packet).expect("a reply");
        let reply = hickory_proto::op::Message::from_vec(&reply).unwrap();
        assert_eq!(reply.answers.len(), 4);
        orders.insert(format!("{:?}", support::dns::addresses(&reply)));
    }
    assert!(
        orders.len() > 1,
        "40 identical queries, one order: a shuffled reply was remembered"
    );
    // One address: nothing to shuffle, the same reply every time.
    for _ in 0..3 {
        let reply = udp(
            server.addr(),
            &query("svc1.testns.svc.cluster.local.", RecordType::A),
        );
        assert_eq!(reply.answers.len(), 1);
    }
}
