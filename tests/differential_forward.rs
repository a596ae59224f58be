//! Forwarded names: clusterdns and CoreDNS 1.14.7 with the same Corefile
//! and the same stub upstream must give the same rcode, flags, sections and
//! TTLs, over UDP and TCP, with and without EDNS.

mod support;

use std::time::Duration;

use clusterdns::diff::{Transport, compare, exchange};
use hickory_proto::op::Edns;
use hickory_proto::rr::{DNSClass, RecordType};
use support::dns::{query, query_class};
use support::peers::{Coredns, cluster};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};

#[test]
fn forwarded_replies_match_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = format!(
        ".:PORT {{\n bind 127.0.0.1\n ready 127.0.0.1:READY\n forward . {}\n}}\n",
        stub.addr
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
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in names {
        for qtype in types {
            for (transport, edns) in [
                (Transport::Udp, false),
                (Transport::Udp, true),
                (Transport::Tcp, false),
                (Transport::Tcp, true),
            ] {
                let mut msg = query(name, qtype);
                if edns {
                    let mut opt = Edns::new();
                    opt.set_max_payload(1232);
                    opt.set_dnssec_ok(true);
                    msg.set_edns(opt);
                }
                let timeout = Duration::from_secs(5);
                let theirs = exchange(coredns.addr(), &msg, transport, timeout).unwrap();
                let mine = exchange(ours.addr(), &msg, transport, timeout).unwrap();
                compared += 1;
                let differences = compare(&theirs, &mine);
                if !differences.is_empty() {
                    failures.push(format!(
                        "{name} {qtype} {transport:?} edns={edns}: {differences:?}"
                    ));
                }
            }
        }
    }
    let chaos = query_class("version.bind.", RecordType::TXT, DNSClass::CH);
    let theirs = exchange(
        coredns.addr(),
        &chaos,
        Transport::Udp,
        Duration::from_secs(5),
    )
    .unwrap();
    let mine = exchange(ours.addr(), &chaos, Transport::Udp, Duration::from_secs(5)).unwrap();
    assert_eq!(compare(&theirs, &mine), vec![], "CH class");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
