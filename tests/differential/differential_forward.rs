//! Forwarded names: clusterdns and CoreDNS 1.14.7 with the same Corefile
//! and the same stub upstream must give the same rcode, flags, sections and
//! TTLs, over UDP and TCP, with and without EDNS.

use crate::support;

use std::time::Duration;

use clusterdns::diff::{Proto, compare, exchange};
use hickory_proto::rr::{DNSClass, RecordType};
use support::dns::{query, query_class};
use support::peers::{Coredns, cluster};
use support::process::Clusterdns;
use support::tls_upstream::{TlsStub, fixture};
use support::upstream::{Mode, Stub};

#[test]
fn forwarded_replies_match_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(" ready 127.0.0.1:READY\n forward . {}\n", stub.addr),
    );
    let coredns = Coredns::start(&corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let names = [
        "www.example.org.",
        "WWW.Example.ORG.",
        "nxdomain.example.org.",
        "example.org.",
        "a.b.c.d.example.net.",
        ".",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::NS,
        RecordType::SOA,
    ];
    let (compared, failures) = compare_all(&coredns, &ours, &names, &types);
    let chaos = query_class("version.bind.", RecordType::TXT, DNSClass::CH);
    let theirs = exchange(coredns.addr(), &chaos, Proto::Udp, Duration::from_secs(5)).unwrap();
    let mine = exchange(ours.addr(), &chaos, Proto::Udp, Duration::from_secs(5)).unwrap();
    assert_eq!(compare(&theirs, &mine), vec![], "CH class");
    assert_none_differ(compared, &failures);
}

/// The same through a DNS-over-TLS upstream: both servers trust the test
/// CA and check the stub's certificate against its IP address.
#[test]
fn tls_forwarded_replies_match_coredns() {
    let stub = TlsStub::start();
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n forward . tls://{} {{\n  tls {}\n }}\n",
            stub.addr,
            fixture("ca.pem")
        ),
    );
    let coredns = Coredns::start(&corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let mut failures = Vec::new();
    for name in [
        "www.example.org.",
        "nxdomain.example.org.",
        "Mixed.Example.NET.",
    ] {
        for qtype in [RecordType::A, RecordType::MX, RecordType::TXT] {
            for transport in [Proto::Udp, Proto::Tcp] {
                let msg = query(name, qtype);
                let timeout = Duration::from_secs(5);
                let theirs = exchange(coredns.addr(), &msg, transport, timeout).unwrap();
                let mine = exchange(ours.addr(), &msg, transport, timeout).unwrap();
                let differences = compare(&theirs, &mine);
                if !differences.is_empty() {
                    failures.push(format!("{name} {qtype} {transport:?}: {differences:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        stub.queries.load(std::sync::atomic::Ordering::SeqCst) >= 36,
        "both servers asked the TLS upstream"
    );
}

/// Every name × type over UDP and TCP, with and without EDNS, asked of both
/// servers: how many were compared, and each difference.
fn compare_all(
    coredns: &Coredns,
    ours: &Clusterdns,
    names: &[&str],
    types: &[RecordType],
) -> (usize, Vec<String>) {
    compare_each(coredns, ours, names, types, false)
}

/// As `compare_all`, for servers that cache: each cache ages its entry
/// from the moment it stored it, a few ms apart, so a TTL can read one
/// second apart when a second boundary falls between the two exchanges.
/// Such a difference does not repeat on a second ask; a real one does.
fn compare_all_cached(
    coredns: &Coredns,
    ours: &Clusterdns,
    names: &[&str],
    types: &[RecordType],
) -> (usize, Vec<String>) {
    compare_each(coredns, ours, names, types, true)
}

fn compare_each(
    coredns: &Coredns,
    ours: &Clusterdns,
    names: &[&str],
    types: &[RecordType],
    ask_again: bool,
) -> (usize, Vec<String>) {
    support::differential::compare_each(coredns.addr(), ours.addr(), names, types, true, ask_again)
}

/// Through `cache 30` in front of the same upstream (TTL 300, denial SOA
/// minimum 60): the first pass stores, the second is served from both
/// caches (AA set, TTLs capped at 30 and flattened), and the third, two
/// seconds on, must show the same decayed TTLs.
#[test]
fn cached_forwarded_replies_match_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n cache 30\n forward . {}\n",
            stub.addr
        ),
    );
    let coredns = Coredns::start(&corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let names = [
        "www.example.org.",
        "nxdomain.example.org.",
        "example.org.",
        "Mixed.Example.NET.",
    ];
    let types = [
        RecordType::A,
        RecordType::MX,
        RecordType::TXT,
        RecordType::SOA,
    ];
    let (stored, mut failures) = compare_all_cached(&coredns, &ours, &names, &types);
    let asked = stub.queries();
    let (hits, more) = compare_all_cached(&coredns, &ours, &names, &types);
    failures.extend(more);
    std::thread::sleep(Duration::from_millis(2100));
    let (decayed, more) = compare_all_cached(&coredns, &ours, &names, &types);
    failures.extend(more);
    assert_eq!(
        stub.queries(),
        asked,
        "the later passes came from the caches"
    );
    assert_none_differ(stored + hits + decayed, &failures);
}

#[test]
fn next_on_nodata_chains_match_coredns() {
    // NODATA from the first upstream goes on to the second, which answers
    // NXDOMAIN to everything; answers and NXDOMAIN from the first stay.
    let first = Stub::start(Mode::Answer);
    let second = Stub::start(Mode::Rcode(3));
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n forward . {} {{\n  next_on_nodata\n }}\n forward . {}\n",
            first.addr, second.addr
        ),
    );
    let coredns = Coredns::start(&corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let names = ["www.example.org.", "nxdomain.example.org."];
    let types = [RecordType::A, RecordType::AAAA, RecordType::MX];
    let before = second.queries();
    let (compared, failures) = compare_all(&coredns, &ours, &names, &types);
    assert!(
        second.queries() > before,
        "no query went on to the second forward"
    );
    assert_none_differ(compared, &failures);
}

#[test]
fn hostname_tos_match_coredns() {
    // Both servers look `upstream.test` up at setup through the same
    // loopback resolver stub (A: 127.0.0.1) and forward to the stub upstream.
    let resolver = Stub::start(Mode::LoopbackA);
    let upstream = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n forward . upstream.test:{} {{\n  resolver {}\n }}\n",
            upstream.addr.port(),
            resolver.addr
        ),
    );
    let coredns = Coredns::start(&corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let names = ["www.example.org.", "nxdomain.example.org."];
    let types = [RecordType::A, RecordType::AAAA];
    let (compared, failures) = compare_all(&coredns, &ours, &names, &types);
    assert_eq!(
        upstream.queries(),
        2 * compared,
        "every query reached the upstream"
    );
    assert_none_differ(compared, &failures);
}

/// Fails listing every difference `compare_all` found.
fn assert_none_differ(compared: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
