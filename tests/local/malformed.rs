//! Malformed input over real sockets: every case gets FORMERR or is
//! dropped as CoreDNS (miekg) does, and the server keeps answering.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{query, udp, udp_expect, udp_raw};
use support::process::Clusterdns;

fn server() -> Clusterdns {
    let snapshot = format!(
        "{}/tests/fixtures/f1-snapshot.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    Clusterdns::start(&support::block(
        ".",
        &format!(" errors\n cache 30\n kubernetes cluster.local {{\n  snapshot {snapshot}\n }}\n"),
    ))
}

fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut packet = vec![0xAB, 0xCD, 0x01, 0x00];
    for count in [qd, an, ns, ar] {
        packet.extend_from_slice(&count.to_be_bytes());
    }
    packet
}

fn rcode(reply: &[u8]) -> u8 {
    reply[3] & 0x0F
}

#[test]
fn malformed_packets_get_formerr_or_nothing_and_the_server_survives() {
    let server = server();
    let wait = Duration::from_millis(500);
    let cases: Vec<(&str, Vec<u8>, Option<u8>)> = vec![
        ("empty", vec![], None),
        ("short header", vec![0xAB, 0xCD, 0x01], None),
        ("header only, QDCOUNT 0", header(0, 0, 0, 0), Some(1)),
        (
            "QDCOUNT 2",
            [
                header(2, 0, 0, 0),
                b"\x01a\x00\x00\x01\x00\x01\x01b\x00\x00\x01\x00\x01".to_vec(),
            ]
            .concat(),
            Some(1),
        ),
        ("question missing", header(1, 0, 0, 0), Some(1)),
        (
            "compression loop",
            [header(1, 0, 0, 0), vec![0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01]].concat(),
            Some(1),
        ),
        (
            "pointer past the end",
            [header(1, 0, 0, 0), vec![0xC0, 0xFF, 0x00, 0x01, 0x00, 0x01]].concat(),
            Some(1),
        ),
        (
            "label past the end",
            [header(1, 0, 0, 0), vec![0x3F, b'a', b'b']].concat(),
            Some(1),
        ),
        (
            "two OPT records",
            [
                header(1, 0, 0, 2),
                b"\x01a\x00\x00\x01\x00\x01".to_vec(),
                opt(),
                opt(),
            ]
            .concat(),
            Some(1),
        ),
        (
            "truncated OPT",
            [
                header(1, 0, 0, 1),
                b"\x01a\x00\x00\x01\x00\x01".to_vec(),
                opt()[..6].to_vec(),
            ]
            .concat(),
            Some(1),
        ),
        (
            "ARCOUNT 3",
            [header(1, 0, 0, 3), b"\x01a\x00\x00\x01\x00\x01".to_vec()].concat(),
            Some(1),
        ),
        (
            "a response",
            {
                let mut p = header(1, 0, 0, 0);
                p[2] |= 0x80;
                p
            },
            None,
        ),
    ];
    for (label, packet, expected) in cases {
        let reply = match expected {
            Some(_) => udp_expect(server.addr(), &packet),
            None => udp_raw(server.addr(), &packet, wait),
        };
        match expected {
            None => assert!(reply.is_none(), "{label}: dropped"),
            Some(code) => {
                let reply = reply.unwrap_or_else(|| panic!("{label}: a reply"));
                assert_eq!(rcode(&reply), code, "{label}");
                assert_eq!(&reply[..2], &[0xAB, 0xCD], "{label}: the ID");
            }
        }
    }
    // Unknown class and type are ordinary questions.
    let mut unknown = query("svc1.testns.svc.cluster.local.", RecordType::Unknown(65280));
    assert_eq!(
        udp(server.addr(), &unknown).metadata.response_code,
        ResponseCode::NoError
    );
    unknown.queries[0].set_query_class(hickory_proto::rr::DNSClass::Unknown(77));
    assert_eq!(
        udp(server.addr(), &unknown).metadata.response_code,
        ResponseCode::Refused
    );
    // ANY never returns records.
    let any = udp(
        server.addr(),
        &query("svc1.testns.svc.cluster.local.", RecordType::ANY),
    );
    assert!(any.answers.is_empty());
    let alive = udp(
        server.addr(),
        &query("svc1.testns.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(alive.answers.len(), 1, "still answering");
}

fn opt() -> Vec<u8> {
    vec![
        0x00, 0x00, 0x29, 0x04, 0xD0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]
}

#[test]
fn tcp_oversize_length_half_open_and_idle_connections_are_closed() {
    let server = server();
    // A length prefix promising more than is ever sent: closed after the read timeout.
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.write_all(&[0xFF, 0xFF, 0x00, 0x01]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = stream.read(&mut buffer);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "closed, not answered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the read timeout"
    );

    // Half-open: the client shuts its writing side after one query; the reply still comes.
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let packet = query("svc1.testns.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    stream
        .write_all(&(packet.len() as u16).to_be_bytes())
        .unwrap();
    stream.write_all(&packet).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let reply = support::dns::read_framed(&mut stream).expect("reply on a half-closed connection");
    assert_eq!(reply[..2], packet[..2]);

    // A connection that never sends anything is closed after the idle timeout.
    let mut idle = TcpStream::connect(server.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let read = idle.read(&mut buffer);
    assert!(matches!(read, Ok(0)) || read.is_err());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(13),
        "idle timeout: {waited:?}"
    );
}

/// A TCP connection from `source` (an address of 127.0.0.0/8) to `server`.
fn connect_from(source: [u8; 4], server: std::net::SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((source, 0)).into())
        .unwrap();
    socket.connect(&server.into()).unwrap();
    socket.into()
}

fn start_with_tcp_limits(total: &str, per_source: &str) -> Clusterdns {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n"),
    )
    .unwrap();
    let mut server = Clusterdns::spawn_with_env(
        &corefile,
        &[],
        dir,
        &[
            ("CLUSTERDNS_MAX_TCP_CONNECTIONS", total),
            ("CLUSTERDNS_MAX_TCP_PER_SOURCE", per_source),
        ],
    );
    server.port = port;
    support::peers::eventually(Duration::from_secs(10), "listening", || {
        TcpStream::connect(server.addr()).ok().map(|_| ())
    });
    server
}

/// Whether the server closed `stream` within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0u8; 4];
    matches!(stream.read(&mut buffer), Ok(0)) || {
        let error = stream.read(&mut buffer);
        matches!(error, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }
}

#[test]
fn a_full_table_gives_the_newcomer_the_slot_idle_longest_and_udp_keeps_answering() {
    let server = start_with_tcp_limits("20", "20");
    // 20 idle connections hold every slot (a slowloris client), the first
    // one idle longest. (It waits 10 s before its idle timeout: the table
    // was nearly empty when it started waiting.)
    let mut held: Vec<TcpStream> = (0..20)
        .map(|_| {
            let stream = connect_from([127, 0, 0, 2], server.addr());
            std::thread::sleep(Duration::from_millis(20));
            stream
        })
        .collect();
    let reply = support::dns::tcp(server.addr(), &query("example.org.", RecordType::A));
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "the newcomer is served"
    );
    assert!(
        !closed_within(&mut held[19], Duration::from_millis(100)),
        "the newest stays"
    );
    assert!(
        closed_within(&mut held[0], Duration::from_secs(2)),
        "the connection idle longest gave up its slot"
    );
    assert_eq!(
        udp(server.addr(), &query("example.org.", RecordType::A))
            .metadata
            .response_code,
        ResponseCode::NoError
    );
}

#[test]
fn a_source_holds_at_most_its_share_of_connections() {
    let server = start_with_tcp_limits("100", "5");
    let mut mine: Vec<TcpStream> = (0..8)
        .map(|_| {
            let stream = connect_from([127, 0, 0, 2], server.addr());
            std::thread::sleep(Duration::from_millis(20));
            stream
        })
        .collect();
    let closed: Vec<bool> = mine
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(500)))
        .collect();
    assert_eq!(
        closed,
        vec![true, true, true, false, false, false, false, false],
        "each newcomer past 5 took the slot of its source's oldest"
    );
}

/// The case at the default limits: one source opens 1 100 idle
/// connections; another source's TCP query is answered at once (before,
/// it was reset: one global cap of 1 024, first come, first kept).
#[test]
fn another_sources_tcp_query_is_answered_while_one_source_holds_1100_connections() {
    let server = start_with_tcp_limits("1024", "128");
    let _held: Vec<TcpStream> = (0..1100)
        .map(|_| connect_from([127, 0, 0, 2], server.addr()))
        .collect();
    wait_settled(server.child.id());
    let mut stream = connect_from([127, 0, 0, 3], server.addr());
    let packet = query("example.org.", RecordType::A).to_vec().unwrap();
    stream
        .write_all(&(packet.len() as u16).to_be_bytes())
        .unwrap();
    stream.write_all(&packet).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let reply = support::dns::read_framed(&mut stream).expect("answered");
    assert_eq!(reply[..2], packet[..2]);
}

/// Waits until the server's count of open descriptors has stayed the same
/// for 300 ms: it has accepted (and closed past its caps) what it was sent.
fn wait_settled(pid: u32) {
    let open = || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let (mut last, mut same_since) = (open(), std::time::Instant::now());
    support::peers::eventually(Duration::from_secs(10), "the server to settle", || {
        let now = open();
        if now != last {
            (last, same_since) = (now, std::time::Instant::now());
        }
        (same_since.elapsed() >= Duration::from_millis(300)).then_some(())
    });
}
