//! clusterdns against CoreDNS 1.14.7 on the same Corefile, packet for packet:
//! the same bytes from the same source address reach both, and the replies
//! (normalised) and the log lines (minus the duration) must match.

use crate::support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use clusterdns::diff::{Proto, compare, exchange};
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, RecordType};
use support::dns::{query, query_class, with_edns};
use support::peers::{Coredns, cluster};
use support::process::Clusterdns;

const COREFILE: &str = "example.org:PORT {\n bind 127.0.0.1\n ready 127.0.0.1:READY\n whoami\n log\n errors\n}\n.:PORT {\n bind 127.0.0.1\n log\n errors\n}\n";

struct Pair {
    coredns: Coredns,
    ours: Clusterdns,
}

fn start_pair() -> Pair {
    let kubeconfig = &cluster().kubeconfig;
    let coredns = Coredns::start(COREFILE, kubeconfig);
    let ours_corefile = COREFILE.replace("READY", &support::free_port().to_string());
    let ours = Clusterdns::start(&ours_corefile);
    Pair { coredns, ours }
}

/// Sends the same packet from one client socket to both servers.
fn both_raw(pair: &Pair, socket: &UdpSocket, packet: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    // Up to 3 sends, as a stub resolver retries; a late reply from the other
    // server (the socket is shared) is skipped by its source address.
    let ask = |server: SocketAddr| {
        let mut buffer = vec![0u8; 65535];
        for _ in 0..3 {
            socket.send_to(packet, server).unwrap();
            while let Ok((n, from)) = socket.recv_from(&mut buffer) {
                if from == server {
                    return Some(buffer[..n].to_vec());
                }
            }
        }
        None
    };
    (ask(pair.coredns.addr()), ask(pair.ours.addr()))
}

fn cases() -> Vec<(String, Message)> {
    let mut cases = vec![
        ("whoami A".into(), query("a.example.org.", RecordType::A)),
        (
            "whoami mixed case AAAA".into(),
            query("WwW.Example.ORG.", RecordType::AAAA),
        ),
        (
            "whoami apex with EDNS+DO".into(),
            with_edns(query("example.org.", RecordType::MX), 1232, true),
        ),
        (
            "whoami small EDNS buffer".into(),
            with_edns(query("example.org.", RecordType::TXT), 600, false),
        ),
        (
            "no next plugin".into(),
            query("kubernetes.default.svc.cluster.local.", RecordType::A),
        ),
        (
            "no next plugin with EDNS".into(),
            with_edns(query("other.net.", RecordType::SRV), 4096, false),
        ),
        (
            "CH class refused".into(),
            query_class("example.org.", RecordType::TXT, DNSClass::CH),
        ),
        ("root NS".into(), query(".", RecordType::NS)),
        (
            "unknown type".into(),
            query("example.org.", RecordType::Unknown(65280)),
        ),
    ];
    let mut long = query(
        &format!(
            "{}.{}.{}.example.org.",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60)
        ),
        RecordType::A,
    );
    long.metadata.checking_disabled = true;
    cases.push(("long name, CD set".into(), long));
    cases
}

#[test]
fn replies_match_coredns_over_udp_from_the_same_source() {
    let pair = start_pair();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut failures = Vec::new();
    for (label, msg) in cases() {
        let (theirs, ours) = both_raw(&pair, &socket, &msg.to_vec().unwrap());
        let (theirs, ours) = (
            theirs.expect("CoreDNS replied"),
            ours.expect("clusterdns replied"),
        );
        let differences = compare(
            &Message::from_vec(&theirs).unwrap(),
            &Message::from_vec(&ours).unwrap(),
        );
        if !differences.is_empty() {
            failures.push(format!("{label}: {differences:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

#[test]
fn header_only_rejections_match_coredns_byte_for_byte() {
    let pair = start_pair();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let good = query("example.org.", RecordType::A).to_vec().unwrap();
    let mut two_questions = good.clone();
    two_questions[5] = 2;
    let mut update = good.clone();
    update[2] = (update[2] & 0x87) | (5 << 3);
    let mut status = good.clone();
    status[2] = (status[2] & 0x87) | (2 << 3);
    let mut aa_tc_set = two_questions.clone();
    aa_tc_set[2] |= 0x06;
    for (label, packet) in [
        ("QDCOUNT=2", two_questions),
        ("UPDATE", update),
        ("STATUS", status),
        ("AA+TC with QDCOUNT=2", aa_tc_set),
    ] {
        let (theirs, ours) = both_raw(&pair, &socket, &packet);
        assert_eq!(ours, theirs, "{label}");
        assert!(theirs.is_some(), "{label}: CoreDNS answers it");
    }
}

#[test]
fn tcp_replies_match_coredns() {
    let pair = start_pair();
    let mut compared = 0;
    for (label, msg) in cases() {
        let timeout = Duration::from_secs(5);
        let theirs = exchange(pair.coredns.addr(), &msg, Proto::Tcp, timeout).unwrap();
        let ours = exchange(pair.ours.addr(), &msg, Proto::Tcp, timeout).unwrap();
        let (theirs, ours) = (without_client_port(theirs), without_client_port(ours));
        assert_eq!(compare(&theirs, &ours), vec![], "{label}");
        compared += 1;
    }
    assert_eq!(compared, cases().len(), "whoami's cases included");
}

/// whoami's SRV carries the client's port, which differs per TCP
/// connection: it is set to 0 in both replies before comparing, and
/// every other field of the record is still compared.
fn without_client_port(mut msg: Message) -> Message {
    for record in &mut msg.additionals {
        if let hickory_proto::rr::RData::SRV(srv) = &record.data {
            let target = srv.target.clone();
            let (priority, weight) = (srv.priority, srv.weight);
            record.data = hickory_proto::rr::RData::SRV(hickory_proto::rr::rdata::SRV::new(
                priority, weight, 0, target,
            ));
        }
    }
    msg
}

#[test]
fn log_lines_match_coredns_except_the_duration() {
    let pair = start_pair();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut ids = Vec::new();
    for (_, msg) in cases() {
        ids.push(msg.metadata.id);
        both_raw(&pair, &socket, &msg.to_vec().unwrap());
    }
    // Both logs arrive through pipes: wait for all the lines (or 10 s).
    let expected = cases().len() - 1;
    let info = |lines: &mut dyn Iterator<Item = String>| {
        lines.filter(|l| l.starts_with("[INFO] 127.")).count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline
        && (info(&mut pair.coredns.peer.log_text().lines().map(String::from)) < expected
            || info(&mut pair.ours.lines().into_iter()) < expected)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let strip = |line: &str| {
        line.rsplit_once(' ')
            .map(|(head, _)| head.to_string())
            .unwrap_or_default()
    };
    let theirs: Vec<String> = pair
        .coredns
        .peer
        .log_text()
        .lines()
        .filter(|l| l.starts_with("[INFO] 127."))
        .map(strip)
        .collect();
    let ours: Vec<String> = pair
        .ours
        .lines()
        .iter()
        .filter(|l| l.starts_with("[INFO] 127."))
        .map(|l| strip(l))
        .collect();
    assert_eq!(
        theirs.len(),
        cases().len() - 1,
        "CoreDNS logs all but the refused one: {theirs:#?}"
    );
    assert_eq!(ours, theirs);
    let errors = |lines: Vec<String>| {
        lines
            .into_iter()
            .filter(|l| l.starts_with("[ERROR]"))
            .collect::<Vec<_>>()
    };
    let their_errors = errors(
        pair.coredns
            .peer
            .log_text()
            .lines()
            .map(String::from)
            .collect(),
    );
    assert!(!their_errors.is_empty());
    assert_eq!(errors(pair.ours.lines()), their_errors);
}
