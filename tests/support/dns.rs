//! A minimal DNS client for tests: build queries, send them over UDP or
//! TCP to loopback, parse replies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// A query with RD set, like dig's default.
pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii(name).expect("valid name"),
        qtype,
    ));
    msg
}

/// The same query with a given class.
pub fn query_class(name: &str, qtype: RecordType, class: DNSClass) -> Message {
    let mut msg = query(name, qtype);
    msg.queries[0].set_query_class(class);
    msg
}

/// Adds an OPT record with `size` and the DO bit.
pub fn with_edns(mut msg: Message, size: u16, dnssec_ok: bool) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(size);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg
}

/// Sends raw bytes over UDP from `source` and returns the raw reply, or
/// None when nothing came back within `wait`.
pub fn udp_raw_from(
    source: &str,
    server: SocketAddr,
    packet: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(source).expect("bind client");
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, server).expect("send");
    let mut buffer = vec![0u8; 65535];
    let (length, _) = socket.recv_from(&mut buffer).ok()?;
    buffer.truncate(length);
    Some(buffer)
}

/// Sends `packet` from `source` and waits for a reply, resending it from the
/// same socket up to 3 times 2s apart, as a stub resolver does: a datagram
/// may be lost on a loaded machine. For queries that must get an answer.
pub fn udp_expect_from(source: &str, server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(source).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buffer = vec![0u8; 65535];
    for _ in 0..3 {
        socket.send_to(packet, server).expect("send");
        if let Ok((length, _)) = socket.recv_from(&mut buffer) {
            buffer.truncate(length);
            return Some(buffer);
        }
    }
    None
}

/// `udp_expect_from` from an ephemeral loopback port.
pub fn udp_expect(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    udp_expect_from("127.0.0.1:0", server, packet)
}

pub fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    udp_raw_from("127.0.0.1:0", server, packet, wait)
}

/// Sends a query over UDP and parses the reply, retrying like a stub
/// resolver (3 tries of 2s): a datagram may be lost on a loaded machine.
pub fn udp(server: SocketAddr, msg: &Message) -> Message {
    let packet = msg.to_vec().unwrap();
    let bytes = (0..3)
        .find_map(|_| udp_raw(server, &packet, Duration::from_secs(2)))
        .expect("udp reply");
    Message::from_vec(&bytes).expect("parsable reply")
}

/// Sends several queries over one TCP connection and returns the replies in order.
pub fn tcp_many(server: SocketAddr, msgs: &[Message]) -> Vec<Message> {
    let mut stream = TcpStream::connect(server).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    msgs.iter()
        .map(|msg| {
            let bytes = msg.to_vec().unwrap();
            stream
                .write_all(&(bytes.len() as u16).to_be_bytes())
                .unwrap();
            stream.write_all(&bytes).unwrap();
            read_framed(&mut stream).expect("tcp reply")
        })
        .map(|bytes| Message::from_vec(&bytes).expect("parsable reply"))
        .collect()
}

pub fn tcp(server: SocketAddr, msg: &Message) -> Message {
    tcp_many(server, std::slice::from_ref(msg)).remove(0)
}

pub fn read_framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut body = vec![0u8; u16::from_be_bytes(length) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// The A and AAAA addresses of a reply's answer section.
pub fn addresses(reply: &Message) -> Vec<std::net::IpAddr> {
    use hickory_proto::rr::RData;
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}
