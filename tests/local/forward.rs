//! forward against stub upstreams on loopback: relaying, transports,
//! truncation, bad replies, timeouts, failover, max_concurrent, health
//! checks, a flapping upstream, a flood against a silent one, except, next,
//! next_on_nodata, source_address, max_age, and the ExternalName chase
//! through the server.

use crate::support;

use std::time::{Duration, Instant};

use clusterdns::diff::{Proto, exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use support::dns::{addresses, query, query_class, tcp, udp, with_edns};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub, expected_a};
use support::{free_port, http_get};

fn forwarding(stub: &Stub, options: &str) -> Clusterdns {
    Clusterdns::start(&support::block(
        ".",
        &format!(" errors\n forward . {} {{\n  {options}\n }}\n", stub.addr),
    ))
}

#[test]
fn relays_the_answer_unchanged_under_a_fresh_id() {
    let stub = Stub::start(Mode::Answer);
    let server = forwarding(&stub, "");
    let msg = query("www.example.org.", RecordType::A);
    let reply = udp(server.addr(), &msg);
    assert_eq!(
        reply.metadata.id, msg.metadata.id,
        "the client's ID is put back"
    );
    assert_eq!(addresses(&reply), vec![expected_a("www.example.org.")]);
    assert_eq!(reply.answers[0].ttl, 300, "TTLs untouched");
    assert!(reply.metadata.recursion_available, "upstream flags kept");
    assert!(!reply.metadata.authoritative);
    assert!(
        !stub.ids.lock().unwrap().contains(&msg.metadata.id),
        "upstream saw a fresh ID"
    );
    let nx = udp(server.addr(), &query("nxname.example.org.", RecordType::A));
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities.len(), 1);
}

#[test]
fn the_client_transport_is_kept_and_force_tcp_wins() {
    let stub = Stub::start(Mode::Answer);
    let server = forwarding(&stub, "");
    tcp(server.addr(), &query("a.example.org.", RecordType::A));
    assert_eq!(
        stub.tcp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "TCP client, TCP upstream"
    );
    let forced = forwarding(&stub, "force_tcp\n  prefer_udp");
    udp(forced.addr(), &query("b.example.org.", RecordType::A));
    assert_eq!(
        stub.tcp_queries.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "force_tcp wins over prefer_udp"
    );
}

#[test]
fn truncated_replies_pass_through_and_prefer_udp_retries_over_tcp() {
    let stub = Stub::start(Mode::TruncateUdp);
    let plain = forwarding(&stub, "");
    let reply = udp(plain.addr(), &query("t.example.org.", RecordType::A));
    assert!(reply.metadata.truncation, "TC goes back to the client");
    let prefer = forwarding(&stub, "prefer_udp");
    let over_tcp = tcp(prefer.addr(), &query("t.example.org.", RecordType::A));
    assert!(!over_tcp.metadata.truncation);
    let retried = udp(prefer.addr(), &query("t2.example.org.", RecordType::A));
    assert!(!retried.metadata.truncation, "prefer_udp retried over TCP");
    assert_eq!(addresses(&retried), vec![expected_a("t2.example.org.")]);
}

#[test]
fn an_upstream_reply_larger_than_the_client_buffer_becomes_an_empty_tc_reply() {
    let stub = Stub::start(Mode::Big);
    let server = forwarding(&stub, "");
    let small = udp(server.addr(), &query("big.example.org.", RecordType::A));
    assert!(small.metadata.truncation);
    assert!(small.answers.is_empty(), "header only, TC set");
    let large = udp(
        server.addr(),
        &with_edns(query("big.example.org.", RecordType::A), 4096, false),
    );
    assert_eq!(large.answers.len(), 40);
}

#[test]
fn replies_with_a_wrong_id_are_dropped_and_a_wrong_question_is_formerr() {
    let stub = Stub::start(Mode::WrongIdFirst);
    let server = forwarding(&stub, "");
    let reply = udp(server.addr(), &query("id.example.org.", RecordType::A));
    assert_eq!(
        addresses(&reply),
        vec![expected_a("id.example.org.")],
        "the matching reply after a wrong one"
    );
    stub.set_mode(Mode::WrongQuestion);
    let over_tcp = tcp(server.addr(), &query("q.example.org.", RecordType::A));
    assert_eq!(over_tcp.metadata.response_code, ResponseCode::FormErr);
}

/// A forged reply larger than the client's buffer, with the right ID and
/// another question, is dropped like any spoof: the client gets the real
/// answer, never the forgery's NXDOMAIN (it did, as an empty TC reply).
#[test]
fn an_oversized_reply_for_another_question_never_reaches_the_client() {
    let stub = Stub::start(Mode::ForgedBigFirst);
    let server = forwarding(&stub, "");
    let reply = udp(server.addr(), &query("real.example.org.", RecordType::A));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(!reply.metadata.truncation);
    assert_eq!(addresses(&reply), vec![expected_a("real.example.org.")]);
}

#[test]
fn a_silent_upstream_gives_servfail_within_the_budget_and_logs_the_error() {
    let stub = Stub::start(Mode::Silent);
    let server = forwarding(&stub, "");
    let started = Instant::now();
    let reply = exchange(
        server.addr(),
        &query("quiet.example.org.", RecordType::A),
        Proto::Udp,
        Duration::from_secs(8),
    )
    .unwrap();
    let took = started.elapsed();
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        took >= Duration::from_millis(3500) && took <= Duration::from_millis(5600),
        "two 2s tries: {took:?}"
    );
    let line =
        server.wait_for_line("[ERROR] plugin/errors: 2 quiet.example.org. A: read udp 127.0.0.1:");
    assert!(
        line.ends_with(&format!("->{}: i/o timeout", stub.addr)),
        "{line}"
    );
}

/// The median time of five SERVFAIL-or-answer exchanges.
fn median_exchange(server: &Clusterdns, name: &str) -> (Message, Duration) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        let reply = exchange(
            server.addr(),
            &query(name, RecordType::A),
            Proto::Udp,
            Duration::from_secs(8),
        )
        .unwrap();
        times.push(started.elapsed());
        last = Some(reply);
    }
    times.sort();
    (last.unwrap(), times[2])
}

#[test]
fn a_refused_upstream_fails_fast_and_the_next_one_is_tried_at_once() {
    let closed = free_port();
    let alone = Clusterdns::start(&support::block(
        ".",
        &format!(" errors\n forward . 127.0.0.1:{closed}\n"),
    ));
    let (reply, took) = median_exchange(&alone, "refused.example.org.");
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        took < Duration::from_millis(100),
        "median {took:?}; the read timeout is 2s"
    );
    let line = alone.wait_for_line("[ERROR] plugin/errors: 2 refused.example.org. A: read udp");
    assert!(
        line.ends_with(&format!("->127.0.0.1:{closed}: read: connection refused")),
        "{line}"
    );

    let stub = Stub::start(Mode::Answer);
    let behind = Clusterdns::start(&support::block(
        ".",
        &format!(
            " forward . 127.0.0.1:{closed} {} {{\n  policy sequential\n }}\n",
            stub.addr
        ),
    ));
    let (reply, took) = median_exchange(&behind, "next.example.org.");
    assert_eq!(addresses(&reply), vec![expected_a("next.example.org.")]);
    assert!(took < Duration::from_millis(100), "median {took:?}");
}

#[test]
fn failover_tries_the_next_upstream_on_listed_rcodes() {
    let bad = Stub::start(Mode::Rcode(2));
    let good = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " forward . {} {} {{\n  policy sequential\n  failover SERVFAIL\n }}\n",
            bad.addr, good.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    let reply = udp(server.addr(), &query("f.example.org.", RecordType::A));
    assert_eq!(addresses(&reply), vec![expected_a("f.example.org.")]);
    let without = Clusterdns::start(&support::block(
        ".",
        &format!(
            " forward . {} {} {{\n  policy sequential\n }}\n",
            bad.addr, good.addr
        ),
    ));
    let reply = udp(without.addr(), &query("f.example.org.", RecordType::A));
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::ServFail,
        "without failover the SERVFAIL is relayed"
    );
}

#[test]
fn max_concurrent_refuses_the_excess_at_once() {
    let stub = Stub::start(Mode::Slow(Duration::from_millis(1500)));
    let metrics = free_port();
    let corefile = support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics}\n forward . {} {{\n  max_concurrent 2\n }}\n",
            stub.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    let addr = server.addr();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let reply = exchange(
                    addr,
                    &query(&format!("c{i}.example.org."), RecordType::A),
                    Proto::Udp,
                    Duration::from_secs(6),
                )
                .unwrap();
                (reply.metadata.response_code, started.elapsed())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let refused: Vec<_> = results
        .iter()
        .filter(|(rcode, _)| *rcode == ResponseCode::Refused)
        .collect();
    assert!(refused.len() >= 3, "{results:?}");
    assert!(
        refused
            .iter()
            .all(|(_, took)| *took < Duration::from_millis(500)),
        "refused at once: {results:?}"
    );
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    let rejects = body
        .lines()
        .find_map(|l| l.strip_prefix("coredns_forward_max_concurrent_rejects_total "))
        .unwrap();
    assert!(rejects.parse::<u32>().unwrap() >= 3);
}

#[test]
fn health_checks_mark_a_dead_upstream_and_the_live_one_answers() {
    let dead = Stub::start(Mode::Silent);
    let live = Stub::start(Mode::Answer);
    let metrics = free_port();
    let corefile = support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics}\n forward . {} {} {{\n  policy sequential\n  health_check 100ms\n  max_fails 2\n }}\n",
            dead.addr, live.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    // The first query waits on the dead one, then gets the live answer.
    let first = exchange(
        server.addr(),
        &query("h1.example.org.", RecordType::A),
        Proto::Udp,
        Duration::from_secs(8),
    )
    .unwrap();
    assert_eq!(addresses(&first), vec![expected_a("h1.example.org.")]);
    let failures = format!(
        "coredns_proxy_healthcheck_failures_total{{proxy_name=\"forward\",to=\"{}\"}} ",
        dead.addr
    );
    let failed_checks = || {
        let (_, body) = http_get(metrics, "/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(&failures))
            .and_then(|v| v.parse::<u32>().ok())
    };
    // Past max_fails (2) failed checks the dead upstream is marked down.
    support::peers::eventually(Duration::from_secs(10), "3 failed checks", || {
        failed_checks().filter(|&n| n >= 3)
    });
    let started = Instant::now();
    let later = udp(server.addr(), &query("h2.example.org.", RecordType::A));
    assert_eq!(addresses(&later), vec![expected_a("h2.example.org.")]);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the dead upstream is skipped once marked down"
    );
}

#[test]
fn a_flapping_upstream_is_skipped_while_down_and_used_again_when_back() {
    let flapping = Stub::start(Mode::Answer);
    let steady = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " forward . {} {} {{\n  policy sequential\n  health_check 100ms\n  max_fails 2\n }}\n",
            flapping.addr, steady.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    let addr = server.addr();
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let client = {
        let running = running.clone();
        std::thread::spawn(move || {
            let mut results = Vec::new();
            for i in 0.. {
                if !running.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let name = format!("flap{i}.example.org.");
                let started = Instant::now();
                let reply = exchange(
                    addr,
                    &query(&name, RecordType::A),
                    Proto::Udp,
                    Duration::from_secs(6),
                );
                results.push((name, reply.ok(), started.elapsed()));
                std::thread::sleep(Duration::from_millis(50));
            }
            results
        })
    };
    // Up, down, up, down, up: the last phase shows it is used again.
    let phases = [
        (Mode::Answer, 1500),
        (Mode::Silent, 4000),
        (Mode::Answer, 3000),
        (Mode::Silent, 4000),
        (Mode::Answer, 3000),
    ];
    let mut last_phase_start = 0;
    for (mode, millis) in phases {
        last_phase_start = flapping.names.lock().unwrap().len();
        flapping.set_mode(mode);
        std::thread::sleep(Duration::from_millis(millis));
    }
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let results = client.join().unwrap();

    for (name, reply, took) in &results {
        let reply = reply.as_ref().unwrap_or_else(|| panic!("{name}: no reply"));
        assert_eq!(addresses(reply), vec![expected_a(name)], "{name}");
        assert!(
            *took < Duration::from_millis(2700),
            "{name}: at most one try lost: {took:?}"
        );
    }
    let slow = results
        .iter()
        .filter(|(_, _, took)| *took > Duration::from_secs(1))
        .count();
    assert!(
        (2..=8).contains(&slow),
        "each down phase costs a few 2 s tries, then the upstream is skipped: {slow} of {}",
        results.len()
    );
    let back = flapping.names.lock().unwrap()[last_phase_start..]
        .iter()
        .filter(|name| name.starts_with("flap"))
        .count();
    assert!(back >= 10, "used again once back: {back} queries");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What a flood of unique names did to a server forwarding to a silent upstream.
struct Flood {
    sent: usize,
    refused: usize,
    servfail: usize,
    rss_growth_kib: u64,
}

/// Sends `count` unique queries as fast as one socket can, while sampling
/// the server's RSS, then waits out the forward budget for the stragglers.
fn flood_silent_upstream(options: &str, count: usize) -> Flood {
    let stub = Stub::start(Mode::Silent);
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" forward . {} {{\n  {options}\n }}\n", stub.addr),
    ));
    let flood = flood(server.addr(), server.child.id(), count, None);
    // Still serving after the storm.
    let probe = Stub::start(Mode::Answer);
    drop(probe);
    assert!(
        exchange(
            server.addr(),
            &query("after.example.org.", RecordType::A),
            Proto::Tcp,
            Duration::from_secs(8)
        )
        .is_ok(),
        "still answering after the flood"
    );
    flood
}

/// Floods `server` (process `pid`) with `count` unique queries, with EDNS
/// of size `edns` when given, sampling its RSS until the forward budget
/// for the stragglers has passed.
fn flood(server: std::net::SocketAddr, pid: u32, count: usize, edns: Option<u16>) -> Flood {
    let before = rss_kib(pid);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(7)))
        .unwrap();
    let receiver = {
        let socket = socket.try_clone().unwrap();
        std::thread::spawn(move || {
            let (mut refused, mut servfail) = (0, 0);
            let mut buffer = [0u8; 512];
            while let Ok(n) = socket.recv(&mut buffer) {
                match buffer[..n].get(3).map(|b| b & 0x0F) {
                    Some(5) => refused += 1,
                    Some(2) => servfail += 1,
                    _ => {}
                }
            }
            (refused, servfail)
        })
    };
    let mut peak = before;
    for i in 0..count {
        let mut msg = query(&format!("u{i}.flood.example.org."), RecordType::A);
        if let Some(size) = edns {
            msg = with_edns(msg, size, false);
        }
        socket.send_to(&msg.to_vec().unwrap(), server).unwrap();
        if i % 1000 == 0 {
            peak = peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for _ in 0..30 {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (refused, servfail) = receiver.join().unwrap();
    Flood {
        sent: count,
        refused,
        servfail,
        rss_growth_kib: peak.saturating_sub(before),
    }
}

/// Pending queries with EDNS 65535 at a silent upstream, side by side with
/// CoreDNS: a pending exchange holds no buffer of the client's EDNS size
/// (it held a zeroed one of 64 KiB, +262 MiB for 4 000), and without
/// `max_concurrent` at most the default 2 000 wait; the rest are REFUSED.
#[test]
fn pending_forwards_with_large_edns_grow_rss_less_than_coredns() {
    let stub = Stub::start(Mode::Silent);
    let corefile = support::block(
        ".",
        &format!(" ready 127.0.0.1:READY\n forward . {}\n", stub.addr),
    );
    let coredns = support::peers::Coredns::start(&corefile, &support::peers::cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &free_port().to_string()));
    let theirs = flood(coredns.addr(), coredns.peer.child.id(), 4_000, Some(65535));
    let mine = flood(ours.addr(), ours.child.id(), 4_000, Some(65535));
    println!(
        "RSS growth for 4000 pending EDNS-65535 forwards: clusterdns {} KiB, CoreDNS {} KiB",
        mine.rss_growth_kib, theirs.rss_growth_kib
    );
    assert!(theirs.rss_growth_kib > 0, "CoreDNS held the queries too");
    assert!(
        (1_500..=2_100).contains(&mine.refused),
        "past the default ceiling of 2000: {} REFUSED",
        mine.refused
    );
    assert!(
        mine.rss_growth_kib < theirs.rss_growth_kib,
        "clusterdns +{} KiB, CoreDNS +{} KiB",
        mine.rss_growth_kib,
        theirs.rss_growth_kib
    );
}

#[test]
fn a_flood_against_a_silent_upstream_is_bounded_by_max_concurrent() {
    let flood = flood_silent_upstream("max_concurrent 500", 30_000);
    assert!(
        flood.servfail <= 500,
        "at most max_concurrent queries wait on the upstream: {} SERVFAIL",
        flood.servfail
    );
    assert!(
        flood.refused >= flood.sent / 2,
        "the excess is refused at once: {} of {}",
        flood.refused,
        flood.sent
    );
    // Without the limit the same flood holds every query (measured:
    // +118 MiB for 30k); with it the pending set, and so memory, is bounded.
    assert!(
        flood.rss_growth_kib < 16 * 1024,
        "RSS grew {} KiB",
        flood.rss_growth_kib
    );
}

#[test]
fn except_names_and_non_matching_names_go_to_the_next_plugin() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " forward example.org {} {{\n  except internal.example.org\n }}\n whoami\n",
            stub.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    assert_eq!(
        addresses(&udp(server.addr(), &query("a.example.org.", RecordType::A))).len(),
        1
    );
    let excepted = udp(
        server.addr(),
        &query("x.internal.example.org.", RecordType::A),
    );
    assert!(
        excepted.metadata.authoritative && excepted.answers.is_empty(),
        "whoami answered"
    );
    let outside = udp(server.addr(), &query("example.net.", RecordType::A));
    assert!(outside.metadata.authoritative, "whoami answered");
    assert_eq!(stub.queries(), 1);
}

#[test]
fn next_hands_listed_rcodes_to_the_following_forward() {
    let first = Stub::start(Mode::Rcode(3));
    let second = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " forward . {} {{\n  next NXDOMAIN\n }}\n forward . {}\n",
            first.addr, second.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    let reply = udp(server.addr(), &query("n.example.org.", RecordType::A));
    assert_eq!(addresses(&reply), vec![expected_a("n.example.org.")]);
    assert_eq!((first.queries(), second.queries()), (1, 1));
}

#[test]
fn next_on_nodata_hands_empty_noerror_replies_to_the_following_forward() {
    // The first upstream answers A and has no AAAA (NODATA); the second
    // says NXDOMAIN to everything, so its answer shows where a query went.
    let first = Stub::start(Mode::Answer);
    let second = Stub::start(Mode::Rcode(3));
    let chain = |option: &str| {
        Clusterdns::start(&support::block(
            ".",
            &format!(
                " forward . {} {{\n  {option}\n }}\n forward . {}\n",
                first.addr, second.addr
            ),
        ))
    };
    let server = chain("next_on_nodata");
    let rcode = |reply: Message| reply.metadata.response_code;
    // UDP replies pass undecoded here (nothing in front reads records), TCP
    // ones are decoded: both paths must see the empty answer section.
    let nodata_udp = udp(server.addr(), &query("d.example.org.", RecordType::AAAA));
    let nodata_tcp = tcp(server.addr(), &query("d.example.org.", RecordType::AAAA));
    assert_eq!(rcode(nodata_udp), ResponseCode::NXDomain, "went on (UDP)");
    assert_eq!(rcode(nodata_tcp), ResponseCode::NXDomain, "went on (TCP)");
    let answered = udp(server.addr(), &query("d.example.org.", RecordType::A));
    assert_eq!(addresses(&answered), vec![expected_a("d.example.org.")]);
    let nx = udp(server.addr(), &query("nxd.example.org.", RecordType::A));
    assert_eq!(rcode(nx), ResponseCode::NXDomain);
    assert_eq!(
        (first.queries(), second.queries()),
        (4, 2),
        "only NODATA went on"
    );

    let without = chain("");
    let kept = udp(without.addr(), &query("e.example.org.", RecordType::AAAA));
    assert_eq!(kept.metadata.response_code, ResponseCode::NoError);
    assert!(kept.answers.is_empty(), "NODATA from the first upstream");
    assert_eq!(second.queries(), 2, "without the option nothing goes on");
}

#[test]
fn source_address_binds_udp_tcp_and_health_check_sockets() {
    let stub = Stub::start(Mode::Answer);
    let bound = forwarding(&stub, "source_address 127.0.0.2");
    udp(bound.addr(), &query("s1.example.org.", RecordType::A));
    tcp(bound.addr(), &query("s2.example.org.", RecordType::A));
    let plain = forwarding(&stub, "");
    udp(plain.addr(), &query("s3.example.org.", RecordType::A));
    let sources: Vec<String> = stub
        .peers
        .lock()
        .unwrap()
        .iter()
        .map(|peer| peer.ip().to_string())
        .collect();
    assert_eq!(sources, ["127.0.0.2", "127.0.0.2", "127.0.0.1"]);

    // A timed-out query starts health checks; their probes come from there too.
    let slow = Stub::start(Mode::Slow(Duration::from_millis(600)));
    let checked = forwarding(
        &slow,
        "source_address 127.0.0.2\n  read_timeout 200ms\n  health_check 100ms",
    );
    let failed = udp(checked.addr(), &query("s4.example.org.", RecordType::A));
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !slow.names.lock().unwrap().iter().any(|n| n == ".") {
        assert!(Instant::now() < deadline, "no health probe arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let peers = slow.peers.lock().unwrap().clone();
    assert!(peers.len() >= 2, "{peers:?}");
    assert!(
        peers.iter().all(|p| p.ip().to_string() == "127.0.0.2"),
        "{peers:?}"
    );
}

/// How many different source ports the stub saw over `millis` of one
/// query every 100 ms (one pooled socket in use at a time).
fn source_ports_over(stub: &Stub, options: &str, millis: u64) -> usize {
    let server = forwarding(stub, options);
    stub.peers.lock().unwrap().clear();
    let end = Instant::now() + Duration::from_millis(millis);
    let mut i = 0;
    while Instant::now() < end {
        i += 1;
        let reply = udp(
            server.addr(),
            &query(&format!("p{i}.example.org."), RecordType::A),
        );
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut ports: Vec<u16> = stub
        .peers
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports.len()
}

#[test]
fn max_age_replaces_a_busy_pooled_socket_by_age_and_expire_alone_does_not() {
    let stub = Stub::start(Mode::Answer);
    // Never idle for 1 s, so `expire` keeps the one socket...
    assert_eq!(source_ports_over(&stub, "expire 1s", 2500), 1);
    // ...while `max_age` closes it once it is 1 s old: 2.5 s of use needs
    // three sockets (two if the machine stalls the queries).
    let ports = source_ports_over(&stub, "expire 1s\n  max_age 1s", 2500);
    assert!((2..=3).contains(&ports), "{ports} source ports");
}

#[test]
fn hostname_tos_are_looked_up_at_setup_through_the_resolver_option() {
    let resolver = Stub::start(Mode::LoopbackA);
    let upstream = Stub::start(Mode::Answer);
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " forward . dns://upstream.test:{} {} {{\n  resolver 127.0.0.1:1 {}\n  policy sequential\n }}\n",
            upstream.addr.port(),
            upstream.addr,
            resolver.addr
        ),
    ));
    // The first resolver refuses (nothing listens on port 1), the second
    // answers A with 127.0.0.1 and has no AAAA.
    let mut asked = resolver.names.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, ["upstream.test.", "upstream.test."], "A and AAAA");
    let reply = udp(server.addr(), &query("h.example.org.", RecordType::A));
    assert_eq!(addresses(&reply), vec![expected_a("h.example.org.")]);
    assert_eq!(upstream.queries(), 1);
    assert_eq!(resolver.queries(), 2, "looked up once, at setup");
}

#[test]
fn chaos_class_queries_are_forwarded_when_forward_is_loaded() {
    let stub = Stub::start(Mode::Answer);
    let server = forwarding(&stub, "");
    let reply = udp(
        server.addr(),
        &query_class("version.bind.", RecordType::TXT, DNSClass::CH),
    );
    assert_ne!(reply.metadata.response_code, ResponseCode::Refused);
    assert_eq!(stub.queries(), 1);
}

#[test]
fn an_external_name_is_resolved_through_the_whole_server() {
    // V36: ExternalName to a name outside the zone; the upstream's TC is copied.
    let stub = Stub::start(Mode::Answer);
    let snapshot = format!(
        "{}/tests/fixtures/f1-snapshot.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let corefile = support::block(
        ".",
        &format!(
            " kubernetes cluster.local {{\n  snapshot {snapshot}\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let server = Clusterdns::start(&corefile);
    let reply = udp(
        server.addr(),
        &query("external.testns.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert!(
        matches!(&reply.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "ext.interwebs.test.")
    );
    assert_eq!(addresses(&reply), vec![expected_a("ext.interwebs.test.")]);
    assert_eq!(reply.answers[1].ttl, 300, "upstream TTL");
    stub.set_mode(Mode::TruncateUdp);
    let truncated = udp(
        server.addr(),
        &query("external.testns.svc.cluster.local.", RecordType::A),
    );
    assert!(truncated.metadata.truncation, "TC from the upstream lookup");
    stub.set_mode(Mode::Rcode(3));
    let nx = udp(
        server.addr(),
        &query("external.testns.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(
        nx.metadata.response_code,
        ResponseCode::NoError,
        "the upstream rcode is dropped"
    );
    assert_eq!(nx.answers.len(), 1, "CNAME alone");
}

#[test]
fn resolv_conf_targets_and_bad_targets_at_setup() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "search example.org\nnameserver 127.0.0.53\nnameserver ::1\noptions ndots:5\n",
    )
    .unwrap();
    let good = dir.path().join("good");
    std::fs::write(
        &good,
        format!(".:1 {{\n forward . {}\n}}\n", resolv.display()),
    )
    .unwrap();
    let check = |file: &std::path::Path| {
        std::process::Command::new(support::process::binary())
            .arg("-conf")
            .arg(file)
            .arg("-check")
            .output()
            .unwrap()
    };
    assert_eq!(check(&good).status.code(), Some(0));
    let bad = dir.path().join("bad");
    std::fs::write(&bad, ".:1 {\n forward . not..an-ip\n}\n").unwrap();
    let output = check(&bad);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "plugin/forward: not an IP address, file, or valid domain: \"not..an-ip\""
    );
    let _ = Message::new(
        0,
        hickory_proto::op::MessageType::Query,
        hickory_proto::op::OpCode::Query,
    );
}

/// An upstream that answers every A query with two A records whose owner
/// names are written out in full (no compression), as some servers do.
fn uncompressed_upstream() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1500];
        while let Ok((length, from)) = socket.recv_from(&mut buffer) {
            let query = &buffer[..length];
            let question_end = 12 + query[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
            let name = &query[12..question_end - 4];
            let mut reply = query[..2].to_vec();
            reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
            reply.extend_from_slice(&query[12..question_end]);
            for last in [1u8, 2] {
                reply.extend_from_slice(name);
                reply.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, last]);
            }
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// Response-size sum of the `dns://:PORT` server's forward replies.
fn response_bytes(metrics: u16) -> f64 {
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    body.lines()
        .find(|l| l.starts_with("coredns_dns_response_size_bytes_sum{"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn replies_pass_undecoded_unless_a_plugin_in_front_reads_records() {
    let upstream = uncompressed_upstream();
    let serve = |front: &str| {
        let metrics = free_port();
        let server = Clusterdns::start(&support::block(
            ".",
            &format!(" prometheus 127.0.0.1:{metrics}\n {front}\n forward . {upstream}\n"),
        ));
        (server, metrics)
    };
    let msg = query("www.example.org.", RecordType::A);
    let packet = clusterdns::internals::encode(&msg);
    // The upstream's bytes, as the upstream sends them for this query.
    let direct = support::dns::udp_expect(upstream, &packet).unwrap();

    let (undecoded, undecoded_metrics) = serve("errors");
    let relayed = support::dns::udp_expect(undecoded.addr(), &packet).unwrap();
    assert_eq!(relayed[..2], packet[..2], "the client's ID");
    assert_eq!(
        relayed[2..],
        direct[2..],
        "the upstream's bytes, names in full"
    );

    let (decoded, decoded_metrics) = serve("log");
    let encoded = support::dns::udp_expect(decoded.addr(), &packet).unwrap();
    assert!(
        encoded.len() < direct.len(),
        "behind log the reply is encoded again, with compression"
    );
    let (a, b) = (
        Message::from_vec(&relayed).unwrap(),
        Message::from_vec(&encoded).unwrap(),
    );
    assert_eq!(a, b, "the same message either way");
    let sizes = (
        response_bytes(undecoded_metrics),
        response_bytes(decoded_metrics),
    );
    assert_eq!(sizes.0, direct.len() as f64, "uncompressed size counted");
    assert_eq!(sizes.0, sizes.1, "both ways count the same size");
}
