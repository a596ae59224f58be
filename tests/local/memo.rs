//! Remembered replies over real sockets: a repeated cluster query gets the
//! chain's reply again under its own ID, the metrics still count every
//! query, another spelling of the name is its own entry, and a remembered
//! cache hit counts its TTL down and goes back to the chain at expiry. (That a
//! remembered reply follows changed data is `snapshot.rs`'s re-read test
//! and the e2e create/update/delete test, which ask the same name again.)

use crate::support;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use std::time::Duration;

use support::dns::{query, udp_expect};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};
use support::{free_port, http_get};

fn demo_with_metrics(metrics_port: u16) -> Clusterdns {
    let root = env!("CARGO_MANIFEST_DIR");
    Clusterdns::start(&support::block(
        ".",
        &format!(
            " errors\n prometheus 127.0.0.1:{metrics_port}\n kubernetes cluster.local {{\n  snapshot {root}/demo/seed-cluster.yaml\n }}\n"
        ),
    ))
}

fn ask(server: &Clusterdns, packet: &[u8]) -> Vec<u8> {
    udp_expect(server.addr(), packet).expect("a reply")
}

fn with_id(packet: &[u8], id: u16) -> Vec<u8> {
    let mut packet = packet.to_vec();
    packet[..2].copy_from_slice(&id.to_be_bytes());
    packet
}

fn counter(metrics: &str, prefix: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_repeated_query_gets_the_chains_reply_under_its_own_id_and_is_counted() {
    let metrics_port = free_port();
    let server = demo_with_metrics(metrics_port);
    let packet = query("kube-dns.kube-system.svc.cluster.local.", RecordType::SRV)
        .to_vec()
        .unwrap();
    let first = ask(&server, &with_id(&packet, 0x1111));
    let again: Vec<Vec<u8>> = [0x2222u16, 0x3333, 0x4444]
        .iter()
        .map(|id| ask(&server, &with_id(&packet, *id)))
        .collect();
    assert_eq!(&first[..2], &[0x11, 0x11]);
    for (reply, id) in again.iter().zip([0x2222u16, 0x3333, 0x4444]) {
        assert_eq!(&reply[..2], &id.to_be_bytes(), "the query's own ID");
        assert_eq!(&reply[2..], &first[2..], "the same reply as the chain's");
    }
    let parsed = Message::from_vec(&again[2]).unwrap();
    assert_eq!(
        parsed.answers.len(),
        2,
        "kube-dns SRV: dns and metrics ports"
    );

    let (status, body) = http_get(metrics_port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let requests = counter(
        &body,
        "coredns_dns_requests_total{",
        &["type=\"SRV\"", "proto=\"udp\""],
    );
    assert_eq!(requests, 4.0, "every query counted, remembered or not");
    let responses = counter(
        &body,
        "coredns_dns_responses_total{",
        &["rcode=\"NOERROR\"", "plugin=\"errors\""],
    );
    assert_eq!(
        responses, 4.0,
        "every reply counted with its rcode and writer"
    );
}

#[test]
fn another_spelling_of_the_name_is_answered_in_its_own_case() {
    let server = demo_with_metrics(free_port());
    let lower = query("kubernetes.default.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    let upper = query("KUBERNETES.Default.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    for _ in 0..2 {
        let reply = Message::from_vec(&ask(&server, &lower)).unwrap();
        assert_eq!(
            reply.queries[0].name().to_ascii(),
            "kubernetes.default.svc.cluster.local."
        );
        let reply = Message::from_vec(&ask(&server, &upper)).unwrap();
        assert_eq!(
            reply.queries[0].name().to_ascii(),
            "KUBERNETES.Default.svc.cluster.local.",
            "the question as asked, not the remembered spelling"
        );
        assert_eq!(reply.answers.len(), 1);
    }
    let nxdomain = query("nope.default.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    for id in [7u16, 8] {
        let reply = Message::from_vec(&ask(&server, &with_id(&nxdomain, id))).unwrap();
        assert_eq!(reply.metadata.id, id);
        assert_eq!(
            reply.metadata.response_code,
            hickory_proto::op::ResponseCode::NXDomain
        );
        assert_eq!(reply.authorities.len(), 1, "the zone's SOA");
    }
}

#[test]
fn a_remembered_cache_hit_counts_down_and_expires_with_the_item() {
    let stub = Stub::start_with_ttl(Mode::Answer, 3);
    let metrics_port = free_port();
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics_port}\n cache {{\n  success 1024 30 0\n }}\n forward . {}\n",
            stub.addr
        ),
    ));
    let packet = query("tick.example.org.", RecordType::A).to_vec().unwrap();
    let ttl = |id: u16| {
        let reply = Message::from_vec(&ask(&server, &with_id(&packet, id))).unwrap();
        assert_eq!(reply.metadata.id, id);
        reply.answers[0].ttl
    };
    assert_eq!(ttl(1), 3, "the miss");
    let hit = ttl(2);
    assert!(
        (2..=3).contains(&hit),
        "a hit through the chain, now remembered"
    );
    // Polled, not slept: each poll is one more query (a hit while the entry
    // lives), counted below.
    let mut id = 2;
    let mut next_ttl = || {
        id += 1;
        ttl(id)
    };
    let later = support::peers::eventually(Duration::from_secs(5), "the TTL to count down", || {
        let now = next_ttl();
        (now < hit).then_some(now)
    });
    assert!(later >= 1, "from memory, counted down: {later} after {hit}");
    assert_eq!(stub.queries(), 1);
    let fresh = support::peers::eventually(Duration::from_secs(8), "the entry to expire", || {
        let now = next_ttl();
        (stub.queries() == 2).then_some(now)
    });
    assert_eq!(fresh, 3, "expired: a new miss with a fresh TTL");
    let asked = f64::from(id);

    let (_, body) = http_get(metrics_port, "/metrics").expect("metrics");
    let count = |prefix: &str| counter(&body, prefix, &[]);
    assert_eq!(count("coredns_cache_requests_total{"), asked);
    assert_eq!(count("coredns_cache_hits_total{"), asked - 2.0);
    assert_eq!(count("coredns_cache_misses_total{"), 2.0);
}

/// With `log` on, replies are still remembered (the chain test in
/// `plugin/log/tests.rs`), and every query, answered from memory or not,
/// gets its own line: its client's port, its ID, the same fields otherwise.
#[test]
fn with_log_on_every_remembered_reply_gets_its_own_line() {
    let root = env!("CARGO_MANIFEST_DIR");
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " log\n kubernetes cluster.local {{\n  snapshot {root}/demo/seed-cluster.yaml\n }}\n"
        ),
    ));
    let packet = query("kube-dns.kube-system.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    let ports = [free_port(), free_port()];
    let mut sent = Vec::new();
    for id in 100u16..130 {
        let port = ports[usize::from(id % 2)];
        let source = format!("127.0.0.1:{port}");
        let reply = support::dns::udp_expect_from(&source, server.addr(), &with_id(&packet, id))
            .expect("a reply");
        assert_eq!(&reply[..2], &id.to_be_bytes());
        sent.push((port, id));
    }
    server.wait_for_line(" - 129 ");
    let lines = server.lines();
    let fixed = format!(
        "\"A IN kube-dns.kube-system.svc.cluster.local. udp {} false 512\" NOERROR qr,aa,rd",
        packet.len()
    );
    let mut rest = None;
    for (port, id) in sent {
        let prefix = format!("[INFO] 127.0.0.1:{port} - {id} ");
        let own: Vec<&String> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(own.len(), 1, "one line for {port}/{id}: {lines:?}");
        let fields = own[0].strip_prefix(&prefix).unwrap();
        assert!(fields.starts_with(&fixed), "{fields}");
        let (same, duration) = fields.rsplit_once(' ').unwrap();
        assert!(duration.ends_with('s') && duration[..duration.len() - 1].parse::<f64>().is_ok());
        assert_eq!(*rest.get_or_insert(same.to_string()), same);
    }
}
