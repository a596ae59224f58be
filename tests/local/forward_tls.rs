//! forward to a DNS-over-TLS upstream (`tls://`): a stub that speaks only
//! TLS on loopback, with a test CA (`tests/fixtures/tls`). The answer must
//! come through, the connection must be pooled, and the certificate must
//! be checked against `tls_servername`, the TO's `%NAME`, or the address.

use crate::support;

use std::sync::atomic::Ordering;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{addresses, query, tcp, udp};
use support::process::Clusterdns;
use support::tls_upstream::{TlsStub, fixture};
use support::upstream::expected_a;
use support::{free_port, http_get};

fn forwarding(to: &str, options: &str, metrics: u16) -> Clusterdns {
    Clusterdns::start(&support::block(
        ".",
        &format!(" prometheus 127.0.0.1:{metrics}\n forward . {to} {{\n  {options}\n }}\n"),
    ))
}

#[test]
fn answers_come_over_one_pooled_tls_connection() {
    let stub = TlsStub::start();
    let metrics = free_port();
    let to = format!("tls://{}", stub.addr);
    let server = forwarding(&to, &format!("tls {}", fixture("ca.pem")), metrics);
    let name = "www.example.org.";
    let reply = udp(server.addr(), &query(name, RecordType::A));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&reply), vec![expected_a(name)]);
    assert_eq!(reply.answers[0].ttl, 300);
    let again = tcp(server.addr(), &query("other.example.org.", RecordType::A));
    assert_eq!(addresses(&again), vec![expected_a("other.example.org.")]);
    assert_eq!(stub.queries.load(Ordering::SeqCst), 2);
    assert_eq!(
        stub.connections.load(Ordering::SeqCst),
        1,
        "the TLS connection is pooled"
    );
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    let hits = format!(
        "coredns_proxy_conn_cache_hits_total{{proto=\"tcp-tls\",proxy_name=\"forward\",to=\"{}\"}} 1",
        stub.addr
    );
    assert!(body.contains(&hits), "{hits} in:\n{body}");
}

/// The reply code for one query through a forward with these settings.
fn rcode_with(to: &str, options: &str) -> ResponseCode {
    let server = forwarding(to, options, free_port());
    let reply = udp(server.addr(), &query("www.example.org.", RecordType::A));
    reply.metadata.response_code
}

#[test]
fn the_certificate_must_carry_the_name_asked_for() {
    let stub = TlsStub::start();
    let (port, ca) = (stub.addr.port(), fixture("ca.pem"));
    let by_address = format!("tls://127.0.0.1:{port}");
    let named = format!("tls://127.0.0.1%dns.test:{port}");
    let misnamed = format!("tls://127.0.0.1%other.test:{port}");
    let cases = [
        (
            by_address.as_str(),
            format!("tls {ca}"),
            ResponseCode::NoError,
        ),
        (
            by_address.as_str(),
            format!("tls {ca}\n  tls_servername dns.test"),
            ResponseCode::NoError,
        ),
        (
            by_address.as_str(),
            format!("tls {ca}\n  tls_servername other.test"),
            ResponseCode::ServFail,
        ),
        (named.as_str(), format!("tls {ca}"), ResponseCode::NoError),
        (
            misnamed.as_str(),
            format!("tls {ca}"),
            ResponseCode::ServFail,
        ),
        // The system's CAs do not know the test CA.
        (by_address.as_str(), String::new(), ResponseCode::ServFail),
    ];
    for (to, options, expected) in cases {
        assert_eq!(rcode_with(to, &options), expected, "{to} with {options:?}");
    }
}
