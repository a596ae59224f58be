//! The server over real sockets on 127.0.0.1: routing, REFUSED, truncation
//! and TC, EDNS echo, TCP with several queries, BADVERS, FORMERR/NOTIMP.

use crate::support;

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use support::dns::{query, query_class, tcp, tcp_many, udp, udp_expect, udp_raw, with_edns};
use support::process::Clusterdns;

fn two_blocks() -> Clusterdns {
    Clusterdns::start(
        &(support::block("example.org", " whoami\n") + &support::block(".", " log\n")),
    )
}

#[test]
fn longest_zone_suffix_picks_the_block_and_root_is_last() {
    let server = two_blocks();
    let answered = udp(server.addr(), &query("www.Example.org.", RecordType::A));
    assert_eq!(answered.metadata.response_code, ResponseCode::NoError);
    assert!(
        answered.metadata.authoritative,
        "whoami answers authoritatively"
    );
    assert_eq!(answered.additionals.len(), 2);
    // The root block has only `log`, so the chain ends with no next plugin.
    let fallback = udp(server.addr(), &query("other.net.", RecordType::A));
    assert_eq!(fallback.metadata.response_code, ResponseCode::ServFail);
    assert!(fallback.additionals.is_empty());
    assert_eq!(fallback.queries[0].name().to_ascii(), "other.net.");
}

#[test]
fn no_matching_block_and_non_in_class_are_refused() {
    let server = Clusterdns::start(&support::block("example.org", " whoami\n"));
    let refused = udp(server.addr(), &query("other.net.", RecordType::A));
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(
        refused.metadata.recursion_desired,
        "RD copied from the query"
    );
    let chaos = udp(
        server.addr(),
        &query_class("example.org.", RecordType::TXT, DNSClass::CH),
    );
    assert_eq!(chaos.metadata.response_code, ResponseCode::Refused);
}

fn long_name() -> String {
    let label = "a".repeat(60);
    format!("{label}.{label}.{label}.example.org.")
}

#[test]
fn replies_over_512_uncompressed_are_compressed_to_fit_without_tc() {
    // The whoami reply for this name is 637 bytes uncompressed: like CoreDNS,
    // the server compresses it to fit 512 bytes instead of truncating.
    let server = two_blocks();
    let packet = query(&long_name(), RecordType::A).to_vec().unwrap();
    let bytes = udp_expect(server.addr(), &packet).unwrap();
    assert!(bytes.len() <= 512, "fits the 512-byte default");
    let plain = Message::from_vec(&bytes).unwrap();
    assert!(!plain.metadata.truncation);
    assert_eq!(plain.additionals.len(), 2);
    let over_tcp = tcp(server.addr(), &query(&long_name(), RecordType::A));
    assert_eq!(over_tcp.additionals.len(), 2);
}

#[test]
fn edns_is_echoed_with_the_client_size_and_do_bit() {
    let server = two_blocks();
    let reply = udp(
        server.addr(),
        &with_edns(query("example.org.", RecordType::A), 1232, true),
    );
    let edns = reply.edns.expect("OPT echoed");
    assert_eq!(edns.max_payload(), 1232);
    assert!(edns.flags().dnssec_ok);
    assert_eq!(edns.version(), 0);
    let plain = udp(server.addr(), &query("example.org.", RecordType::A));
    assert!(plain.edns.is_none(), "no OPT without EDNS in the query");
}

#[test]
fn tcp_serves_several_queries_on_one_connection() {
    let server = two_blocks();
    let queries: Vec<Message> = (0..5)
        .map(|i| query(&format!("q{i}.example.org."), RecordType::A))
        .collect();
    let replies = tcp_many(server.addr(), &queries);
    for (query, reply) in queries.iter().zip(&replies) {
        assert_eq!(reply.metadata.id, query.metadata.id);
        assert_eq!(reply.queries[0].name(), query.queries[0].name());
        let srv = reply
            .additionals
            .iter()
            .find(|r| r.record_type() == RecordType::SRV)
            .unwrap();
        assert!(
            srv.name.to_ascii().starts_with("_tcp."),
            "whoami reports the transport"
        );
    }
}

#[test]
fn edns_version_other_than_zero_gets_badvers() {
    let server = two_blocks();
    let mut msg = with_edns(query("example.org.", RecordType::A), 1232, false);
    msg.edns.as_mut().unwrap().set_version(1);
    let reply = udp(server.addr(), &msg);
    assert_eq!(u16::from(reply.metadata.response_code), 16, "BADVERS");
    assert!(reply.queries.is_empty(), "BADVERS reply has no question");
    assert_eq!(reply.edns.unwrap().version(), 0);
}

#[test]
fn malformed_headers_get_formerr_notimp_or_nothing() {
    let server = two_blocks();
    let good = query("example.org.", RecordType::A).to_vec().unwrap();
    let mut two_questions = good.clone();
    two_questions[5] = 2;
    let reply = udp_expect(server.addr(), &two_questions).expect("FORMERR reply");
    assert_eq!(reply[3] & 0x0F, 1, "FORMERR");
    assert_eq!(&reply[4..12], &[0u8; 8], "empty sections");
    let mut update = good.clone();
    update[2] = (update[2] & 0x87) | (5 << 3);
    let reply = udp_expect(server.addr(), &update).expect("NOTIMP reply");
    assert_eq!(reply[3] & 0x0F, 4, "NOTIMP");
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(
        udp_raw(server.addr(), &response, Duration::from_millis(300)).is_none(),
        "responses are dropped"
    );
    assert!(
        udp_raw(server.addr(), &good[..7], Duration::from_millis(300)).is_none(),
        "short header dropped"
    );
    let garbage_body = [&good[..12], &[0xC0, 0xFF, 0, 1, 0, 1]].concat();
    let reply = udp_expect(server.addr(), &garbage_body).expect("FORMERR for bad body");
    assert_eq!(reply[3] & 0x0F, 1);
    // The server is still answering after all of that.
    assert_eq!(
        udp(server.addr(), &query("example.org.", RecordType::A))
            .metadata
            .response_code,
        ResponseCode::NoError
    );
}

#[test]
fn whoami_reports_the_client_address_and_port() {
    let server = two_blocks();
    let socket = std::net::UdpSocket::bind("127.0.0.9:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    let bytes = support::dns::udp_expect_from(
        &format!("127.0.0.9:{port}"),
        server.addr(),
        &query("example.org.", RecordType::A).to_vec().unwrap(),
    )
    .unwrap();
    let reply = Message::from_vec(&bytes).unwrap();
    let address = reply
        .additionals
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .unwrap();
    assert_eq!(address.to_string(), "127.0.0.9");
    let srv = reply
        .additionals
        .iter()
        .find_map(|r| match &r.data {
            RData::SRV(s) => Some(s.port),
            _ => None,
        })
        .unwrap();
    assert_eq!(srv, port);
}

/// EDNS 65535 asks for more than a UDP datagram can carry: a reply that
/// large used to fail to send (EMSGSIZE) and the client got nothing. It is
/// cut to the largest datagram, with TC, and parses to its last byte.
#[test]
fn a_reply_larger_than_a_datagram_is_truncated_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let lines: String = (0..4500u32)
        .map(|n| {
            format!(
                "10.{}.{}.{} big.example.org\n",
                n >> 16,
                (n >> 8) & 255,
                n & 255
            )
        })
        .collect();
    std::fs::write(&hosts, lines).unwrap();
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" hosts {} {{\n  reload 0s\n }}\n", hosts.display()),
    ));
    let msg = with_edns(query("big.example.org.", RecordType::A), u16::MAX, false);
    let bytes = udp_raw(
        server.addr(),
        &msg.to_vec().unwrap(),
        Duration::from_secs(5),
    )
    .expect("a reply, not silence");
    assert!(bytes.len() <= 65_507, "{} bytes", bytes.len());
    let mut decoder = hickory_proto::serialize::binary::BinDecoder::new(&bytes);
    let reply = <Message as hickory_proto::serialize::binary::BinDecodable>::read(&mut decoder)
        .expect("parses");
    assert_eq!(decoder.len(), 0, "nothing after the message");
    assert!(reply.metadata.truncation);
    assert!(
        bytes.len() > 60_000 && reply.answers.len() > 2_000,
        "{} answers in {} bytes",
        reply.answers.len(),
        bytes.len()
    );
    let over_tcp = tcp(server.addr(), &query("big.example.org.", RecordType::A));
    assert!(over_tcp.answers.len() > reply.answers.len());
}

/// A UDP query with an OPT padded to `bytes` in all.
fn padded_query(bytes: usize) -> Vec<u8> {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    let mut msg = with_edns(query("pad.example.org.", RecordType::A), 4096, false);
    let plain = msg.to_vec().unwrap().len();
    let padding = bytes - plain - 4;
    msg.edns
        .as_mut()
        .unwrap()
        .options_mut()
        .options
        .push((EdnsCode::Padding, EdnsOption::Unknown(12, vec![0; padding])));
    let packet = msg.to_vec().unwrap();
    assert_eq!(packet.len(), bytes);
    packet
}

/// README, Compatibility: a UDP query larger than 4096 bytes is dropped
/// (the batched receive buffers are 4 KiB); over TCP it is answered.
#[test]
fn udp_queries_over_4096_bytes_are_dropped_and_answered_over_tcp() {
    let server = Clusterdns::start(&support::block("example.org", " whoami\n"));
    let fits = padded_query(4096);
    assert!(
        udp_expect(server.addr(), &fits).is_some(),
        "positive control: 4096 bytes are answered"
    );
    let over = padded_query(4200);
    for _ in 0..3 {
        assert_eq!(
            udp_raw(server.addr(), &over, Duration::from_millis(700)),
            None,
            "4200 bytes over UDP: dropped"
        );
    }
    let reply = tcp(server.addr(), &Message::from_vec(&over).unwrap());
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(
        udp_expect(server.addr(), &fits).is_some(),
        "still serving after the oversized datagrams"
    );
}

/// README, Compatibility: an OPT size below 512 is echoed as 512 (CoreDNS
/// echoes the raw value).
#[test]
fn an_edns_size_below_512_is_echoed_as_512() {
    let server = Clusterdns::start(&support::block("example.org", " whoami\n"));
    let echoed = |size: u16| {
        let reply = udp(
            server.addr(),
            &with_edns(query("a.example.org.", RecordType::A), size, false),
        );
        reply.edns.expect("an OPT").max_payload()
    };
    assert_eq!(echoed(1232), 1232, "positive control: the client's size");
    assert_eq!(echoed(256), 512);
    assert_eq!(echoed(0), 512);
}

/// README, Compatibility: a name that leads back through the server more
/// than 8 times stops there (CoreDNS has no bound). A template CNAME to
/// itself is followed through the server at each level.
#[test]
fn a_loop_back_through_the_server_stops_after_8_levels() {
    let server = Clusterdns::start(&support::block(
        "loop.test",
        " template IN A loop.test {\n  answer \"{{ .Name }} 5 IN CNAME again.loop.test.\"\n }\n",
    ));
    let once = udp(server.addr(), &query("first.loop.test.", RecordType::A));
    assert_eq!(once.metadata.response_code, ResponseCode::NoError);
    let cnames = once
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::CNAME)
        .count();
    assert_eq!(cnames, 9, "the query and 8 levels back through the server");
}
