//! A scriptable upstream DNS server on 127.0.0.1 (UDP and TCP) for the
//! forward and cache tests. It answers deterministically from the name:
//! `nx…` names are NXDOMAIN with an SOA, AAAA is NODATA, everything else is
//! an A record derived from the name, unless a `Mode` says otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// How the stub misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Answer,
    Silent,
    /// Answers after this long.
    Slow(Duration),
    /// UDP replies have TC set and no records; TCP answers fully.
    TruncateUdp,
    /// First a reply with a wrong ID, then the right one.
    WrongIdFirst,
    /// A reply for another question.
    WrongQuestion,
    /// Every reply has this rcode and no records.
    Rcode(u8),
    /// A UDP answer bigger than 512 bytes (40 A records).
    Big,
    /// A resolver for hostname TOs: every A answer is 127.0.0.1.
    LoopbackA,
    /// First a forged reply: the right ID, another question, NXDOMAIN
    /// with TC, over 512 bytes; then the real one.
    ForgedBigFirst,
}

pub struct Stub {
    pub addr: SocketAddr,
    pub mode: Arc<Mutex<Mode>>,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    /// The ID of every query received.
    pub ids: Arc<Mutex<Vec<u16>>>,
    /// The question name of every query received, as sent.
    pub names: Arc<Mutex<Vec<String>>>,
    /// Where every query came from (address and port).
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
    pub ttl: u32,
}

impl Stub {
    pub fn start(mode: Mode) -> Stub {
        Self::start_with_ttl(mode, 300)
    }

    pub fn start_with_ttl(mode: Mode, ttl: u32) -> Stub {
        let (udp, tcp) = bind_pair();
        Self::serve(udp, tcp, mode, ttl)
    }

    /// Serves on sockets the caller bound (the node e2e binds them inside
    /// its network namespace).
    pub fn serve(udp: UdpSocket, tcp: TcpListener, mode: Mode, ttl: u32) -> Stub {
        let addr = udp.local_addr().unwrap();
        let stub = Stub {
            addr,
            mode: Arc::new(Mutex::new(mode)),
            udp_queries: Arc::new(AtomicUsize::new(0)),
            tcp_queries: Arc::new(AtomicUsize::new(0)),
            ids: Arc::new(Mutex::new(Vec::new())),
            names: Arc::new(Mutex::new(Vec::new())),
            peers: Arc::new(Mutex::new(Vec::new())),
            ttl,
        };
        let seen = Seen {
            count: stub.udp_queries.clone(),
            ids: stub.ids.clone(),
            names: stub.names.clone(),
            peers: stub.peers.clone(),
        };
        let mode = stub.mode.clone();
        std::thread::spawn(move || serve_udp(udp, mode, seen, ttl));
        let seen = Seen {
            count: stub.tcp_queries.clone(),
            ids: stub.ids.clone(),
            names: stub.names.clone(),
            peers: stub.peers.clone(),
        };
        let mode = stub.mode.clone();
        std::thread::spawn(move || {
            for stream in tcp.incoming().flatten() {
                let (mode, seen) = (mode.clone(), seen.clone());
                std::thread::spawn(move || serve_tcp(stream, mode, seen, ttl));
            }
        });
        stub
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst) + self.tcp_queries.load(Ordering::SeqCst)
    }
}

/// Where the stub records what it received.
#[derive(Clone)]
struct Seen {
    count: Arc<AtomicUsize>,
    ids: Arc<Mutex<Vec<u16>>>,
    names: Arc<Mutex<Vec<String>>>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Seen {
    fn record(&self, query: &Message, from: SocketAddr) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.peers.lock().unwrap().push(from);
        self.ids.lock().unwrap().push(query.metadata.id);
        if let Some(question) = query.queries.first() {
            self.names.lock().unwrap().push(question.name().to_ascii());
        }
    }
}

/// A UDP socket and a TCP listener on the same free port, bound at once so
/// no other socket can take the port in between.
fn bind_pair() -> (UdpSocket, TcpListener) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("stub udp");
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
}

fn serve_udp(socket: UdpSocket, mode: Arc<Mutex<Mode>>, seen: Seen, ttl: u32) {
    let mut buffer = vec![0u8; 65535];
    loop {
        let Ok((length, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        seen.record(&query, from);
        let mode = mode.lock().unwrap().clone();
        let socket = socket.try_clone().unwrap();
        std::thread::spawn(move || {
            for reply in replies(&query, &mode, true, ttl) {
                let _ = socket.send_to(&reply, from);
            }
        });
    }
}

fn serve_tcp(mut stream: std::net::TcpStream, mode: Arc<Mutex<Mode>>, seen: Seen, ttl: u32) {
    let Ok(from) = stream.peer_addr() else {
        return;
    };
    loop {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut body = vec![0u8; u16::from_be_bytes(length) as usize];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(query) = Message::from_vec(&body) else {
            return;
        };
        seen.record(&query, from);
        let mode = mode.lock().unwrap().clone();
        for reply in replies(&query, &mode, false, ttl) {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

/// The packets the stub sends for one query.
fn replies(query: &Message, mode: &Mode, udp: bool, ttl: u32) -> Vec<Vec<u8>> {
    let mut reply = answer(query, ttl);
    match mode {
        Mode::Silent => return Vec::new(),
        Mode::Slow(delay) => std::thread::sleep(*delay),
        Mode::TruncateUdp if udp => {
            reply.answers.clear();
            reply.metadata.truncation = true;
        }
        Mode::WrongIdFirst => {
            let mut wrong = reply.clone();
            wrong.metadata.id = reply.metadata.id.wrapping_add(1);
            return vec![wrong.to_vec().unwrap(), reply.to_vec().unwrap()];
        }
        Mode::ForgedBigFirst => {
            let mut forged = reply.clone();
            let other = Name::from_ascii("forged.example.").unwrap();
            forged.queries[0].set_name(other.clone());
            forged.metadata.response_code = ResponseCode::NXDomain;
            forged.metadata.truncation = true;
            forged.answers = (0..40)
                .map(|i| Record::from_rdata(other.clone(), ttl, RData::A(A::new(203, 0, 113, i))))
                .collect();
            return vec![forged.to_vec().unwrap(), reply.to_vec().unwrap()];
        }
        Mode::WrongQuestion => {
            reply.queries[0].set_name(Name::from_ascii("other.example.").unwrap());
        }
        Mode::Rcode(code) => {
            reply.answers.clear();
            reply.authorities.clear();
            reply.metadata.response_code = ResponseCode::from_low(*code);
        }
        Mode::LoopbackA => {
            for record in &mut reply.answers {
                if let RData::A(_) = record.data {
                    record.data = RData::A(A::new(127, 0, 0, 1));
                }
            }
        }
        Mode::Big => {
            let owner = query.queries[0].name().clone();
            reply.answers = (0..40)
                .map(|i| Record::from_rdata(owner.clone(), ttl, RData::A(A::new(198, 51, 100, i))))
                .collect();
        }
        _ => {}
    }
    vec![reply.to_vec().unwrap()]
}

/// The address the stub answers for `name` (its first A record).
pub fn expected_a(name: &str) -> std::net::IpAddr {
    let reply = answer(&crate::support::dns::query(name, RecordType::A), 300);
    match &reply.answers[0].data {
        RData::A(a) => std::net::IpAddr::V4(a.0),
        _ => unreachable!("the stub answers A queries with A records"),
    }
}

/// The deterministic answer for a query.
pub fn answer(query: &Message, ttl: u32) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    reply.edns = query.edns.clone();
    let Some(question) = query.queries.first() else {
        return reply;
    };
    let name = question.name().clone();
    let lower = name.to_ascii().to_lowercase();
    let soa = || {
        let data = SOA::new(
            Name::from_ascii("ns.stub.").unwrap(),
            Name::from_ascii("admin.stub.").unwrap(),
            1,
            3600,
            600,
            86400,
            60,
        );
        Record::from_rdata(Name::root(), 60, RData::SOA(data))
    };
    if lower.starts_with("nx") {
        reply.metadata.response_code = ResponseCode::NXDomain;
        reply.authorities.push(soa());
        return reply;
    }
    match question.query_type() {
        RecordType::A => {
            let hash = lower
                .bytes()
                .fold(7u8, |h, b| h.wrapping_mul(31).wrapping_add(b));
            reply.answers.push(Record::from_rdata(
                name,
                ttl,
                RData::A(A::new(192, 0, 2, hash)),
            ));
        }
        _ => reply.authorities.push(soa()),
    }
    reply
}
