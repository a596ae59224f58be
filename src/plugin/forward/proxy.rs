//! One upstream: its pooled connections, its health, and one exchange.
//!
//! As in CoreDNS, each upstream keeps a FIFO pool of *connected* sockets
//! with one query in flight per socket; a socket idle longer than `expire`,
//! or older than `max_age`, is closed instead of used again. Replies whose ID or question does not match are dropped while
//! waiting (late replies on a reused port). Health checks (`. IN NS`) run
//! only after a failed exchange, until one succeeds.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::net::dgram::{self, ReadableUdp};

use super::metrics::ProxyMetrics;
use super::tls::TlsTarget;
use super::undecoded;
use crate::dns::{Proto, Undecoded};

/// A stream connection to an upstream: plain TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}
type Connection = Box<dyn Stream>;

/// An upstream reply: decoded, or passed on as bytes with only its header
/// and question in `msg`.
pub(super) struct Answer {
    pub msg: Message,
    pub undecoded: Option<Undecoded>,
}

impl From<Message> for Answer {
    fn from(msg: Message) -> Self {
        Answer {
            msg,
            undecoded: None,
        }
    }
}

/// Why an exchange failed (the text goes to the errors plugin).
#[derive(Debug, Clone)]
pub(super) struct ExchangeError(pub String);

/// How an upstream's connections are made and how long they are kept.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pooling {
    /// Idle longer than this: closed.
    pub expire: Duration,
    /// Older than this (since dialled): closed. Zero: no limit.
    pub max_age: Duration,
    /// Pool size cap (0: none).
    pub max_idle: usize,
    /// The local address sockets are bound to, if not the system's choice.
    pub source: Option<IpAddr>,
}

/// A pooled connection with the times that decide whether it is reused.
struct Pooled<T> {
    connection: T,
    dialled: Instant,
    used: Instant,
}

pub(super) struct Upstream {
    pub address: SocketAddr,
    fails: AtomicU32,
    checking: AtomicBool,
    udp: Mutex<VecDeque<Pooled<ReadableUdp>>>,
    /// Pooled stream connections (TLS ones for a `tls://` upstream).
    tcp: Mutex<VecDeque<Pooled<Connection>>>,
    pooling: Pooling,
    /// Set for a `tls://` upstream: every exchange goes over TLS.
    tls: Option<TlsTarget>,
    pub metrics: ProxyMetrics,
}

/// What a health probe asks.
#[derive(Debug, Clone)]
pub(super) struct HealthProbe {
    pub interval: Duration,
    pub recursion: bool,
    pub domain: Name,
    pub transport: Proto,
}

impl Upstream {
    pub(super) fn new(address: SocketAddr, pooling: Pooling, tls: Option<TlsTarget>) -> Upstream {
        let stream_proto = if tls.is_some() { "tcp-tls" } else { "tcp" };
        Upstream {
            metrics: ProxyMetrics::new(&address.to_string(), stream_proto),
            tls,
            address,
            fails: AtomicU32::new(0),
            checking: AtomicBool::new(false),
            udp: Mutex::new(VecDeque::new()),
            tcp: Mutex::new(VecDeque::new()),
            pooling,
        }
    }

    /// Down once more health checks failed in a row than `max_fails`
    /// (never with `max_fails 0`).
    pub(super) fn down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::Relaxed) > max_fails
    }

    /// Sends `query` under the message ID `id` and waits for the matching
    /// reply. `raw` is the query as the client sent it, relayed as is when
    /// given (with `query`'s AD bit). `buffer` is the client's buffer size:
    /// a larger UDP reply comes back as the upstream header with TC set and
    /// empty sections. With `undecoded`, a UDP reply the walk understands
    /// comes back as bytes, fitted to the client (`query`'s ID and EDNS).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exchange(
        &self,
        query: &Message,
        raw: Option<&[u8]>,
        id: u16,
        transport: Proto,
        buffer: usize,
        timeout: Duration,
        undecoded: bool,
    ) -> Result<Answer, ExchangeError> {
        let mut bytes = match raw {
            Some(raw) if raw.len() >= 12 => relayed(raw, query.metadata.authentic_data),
            _ => crate::dns::wire::try_encode(query).map_err(|e| ExchangeError(e.to_string()))?,
        };
        // The ID is the first two bytes: set there, the query need not be copied.
        bytes[..2].copy_from_slice(&id.to_be_bytes());
        let transport = if self.tls.is_some() {
            Proto::Tcp
        } else {
            transport
        };
        match transport {
            Proto::Udp => {
                self.exchange_udp(&bytes, query, buffer, timeout, undecoded)
                    .await
            }
            // Boxed: the TCP and TLS futures are several times the size of
            // the UDP one, and an unboxed await would make every query's
            // future that large (and copy it when it is boxed and spawned).
            Proto::Tcp => Box::pin(self.exchange_tcp(&bytes, id, timeout))
                .await
                .map(Answer::from),
        }
    }

    async fn exchange_udp(
        &self,
        bytes: &[u8],
        query: &Message,
        buffer: usize,
        timeout: Duration,
        undecoded: bool,
    ) -> Result<Answer, ExchangeError> {
        let (socket, dialled) = self.udp_socket().await?;
        let io_error = |op: &str, e: std::io::Error| self.io_error(op, "udp", &socket, e);
        dgram::send_soon(|| socket.get_ref().send(bytes))
            .await
            .map_err(|e| io_error("write", e))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = tokio::time::timeout_at(deadline, dgram::recv_exact(&socket)).await;
            let mut reply = match received {
                Err(_) => return Err(self.timeout_error("udp", &socket)),
                Ok(Err(e)) => return Err(io_error("read", e)),
                Ok(Ok(reply)) => reply,
            };
            // The ID and the question come before any other use of a
            // reply: one that fails either is dropped, as a spoof is.
            if reply.len() < 12 || reply[..2] != bytes[..2] || !question_matches(bytes, &reply) {
                continue;
            }
            if reply.len() > buffer.max(512) {
                self.give_back_udp(socket, dialled);
                let mut overflow = header_reply(&reply[..12], query);
                overflow.metadata.truncation = true;
                overflow.queries = query.queries.clone();
                return Ok(overflow.into());
            }
            if undecoded && let Some(answer) = passed_on(bytes, &mut reply, query) {
                self.give_back_udp(socket, dialled);
                return Ok(answer);
            }
            let Ok(message) = Message::from_vec(&reply) else {
                continue;
            };
            if !same_question(query, &message) {
                continue;
            }
            self.give_back_udp(socket, dialled);
            return Ok(message.into());
        }
    }

    async fn exchange_tcp(
        &self,
        bytes: &[u8],
        id: u16,
        timeout: Duration,
    ) -> Result<Message, ExchangeError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (mut stream, dialled, reused) = self.tcp_stream(timeout).await?;
            match tcp_round_trip(&mut stream, bytes, timeout).await {
                Ok(reply) => {
                    let message =
                        Message::from_vec(&reply).map_err(|e| ExchangeError(e.to_string()))?;
                    if message.metadata.id != id {
                        return Err(ExchangeError("dns: id mismatch".into()));
                    }
                    self.give_back_tcp(stream, dialled);
                    return Ok(message);
                }
                // A pooled connection the other side closed: retry at once on a new one.
                Err(_) if reused && attempts < 3 => continue,
                Err(TcpFailure::Timeout) => {
                    return Err(ExchangeError(format!(
                        "read tcp {}: i/o timeout",
                        self.address
                    )));
                }
                Err(TcpFailure::Io(e)) => {
                    return Err(ExchangeError(format!("read tcp {}: {e}", self.address)));
                }
            }
        }
    }

    /// Whether a pooled connection may serve another query.
    fn reusable<T>(&self, pooled: &Pooled<T>, now: Instant) -> bool {
        let Pooling {
            expire, max_age, ..
        } = self.pooling;
        now.duration_since(pooled.used) < expire
            && (max_age.is_zero() || now.duration_since(pooled.dialled) < max_age)
    }

    /// The oldest pooled connection still fit for use; the unfit ones met
    /// on the way are dropped (closed).
    fn take_pooled<T>(&self, pool: &Mutex<VecDeque<Pooled<T>>>) -> Option<Pooled<T>> {
        let now = Instant::now();
        loop {
            let pooled = pool.lock().expect("pool lock").pop_front()?;
            if self.reusable(&pooled, now) {
                return Some(pooled);
            }
        }
    }

    fn give_back<T>(&self, pool: &Mutex<VecDeque<Pooled<T>>>, connection: T, dialled: Instant) {
        let mut pool = pool.lock().expect("pool lock");
        if self.pooling.max_idle == 0 || pool.len() < self.pooling.max_idle {
            pool.push_back(Pooled {
                connection,
                dialled,
                used: Instant::now(),
            });
        }
    }

    /// The local address to bind for this upstream's family.
    fn local_address(&self) -> SocketAddr {
        match (self.pooling.source, self.address) {
            (Some(source), _) => SocketAddr::new(source, 0),
            (None, SocketAddr::V4(_)) => ([0, 0, 0, 0], 0).into(),
            (None, SocketAddr::V6(_)) => "[::]:0".parse().expect("v6 any"),
        }
    }

    async fn udp_socket(&self) -> Result<(ReadableUdp, Instant), ExchangeError> {
        if let Some(pooled) = self.take_pooled(&self.udp) {
            self.metrics.udp_hit.inc();
            return Ok((pooled.connection, pooled.dialled));
        }
        self.metrics.udp_miss.inc();
        let dial_error =
            |e: std::io::Error| ExchangeError(format!("dial udp {}: {e}", self.address));
        let socket = std::net::UdpSocket::bind(self.local_address()).map_err(dial_error)?;
        socket.connect(self.address).map_err(dial_error)?;
        let socket = dgram::register(socket).map_err(dial_error)?;
        Ok((socket, Instant::now()))
    }

    fn give_back_udp(&self, socket: ReadableUdp, dialled: Instant) {
        dgram::forget_readiness(&socket);
        self.give_back(&self.udp, socket, dialled);
    }

    /// A pooled stream connection (`true`: reused), or a new one.
    async fn tcp_stream(
        &self,
        timeout: Duration,
    ) -> Result<(Connection, Instant, bool), ExchangeError> {
        if let Some(pooled) = self.take_pooled(&self.tcp) {
            self.metrics.tcp_hit.inc();
            return Ok((pooled.connection, pooled.dialled, true));
        }
        self.metrics.tcp_miss.inc();
        let dial_timeout = || ExchangeError(format!("dial tcp {}: i/o timeout", self.address));
        let dial_error =
            |e: std::io::Error| ExchangeError(format!("dial tcp {}: {e}", self.address));
        let stream = match tokio::time::timeout(timeout, self.tcp_connect()).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(dial_error(e)),
            Err(_) => return Err(dial_timeout()),
        };
        let _ = stream.set_nodelay(true);
        let dialled = Instant::now();
        let Some(tls) = &self.tls else {
            return Ok((Box::new(stream), dialled, false));
        };
        let handshake = tls.connector.connect(tls.name.clone(), stream);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(stream)) => Ok((Box::new(stream), dialled, false)),
            Ok(Err(e)) => Err(ExchangeError(format!("tls {}: {e}", self.address))),
            Err(_) => Err(dial_timeout()),
        }
    }

    /// Connects from `source_address` when one is set.
    async fn tcp_connect(&self) -> std::io::Result<TcpStream> {
        if self.pooling.source.is_none() {
            return TcpStream::connect(self.address).await;
        }
        let local = self.local_address();
        let socket = match local {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(local)?;
        socket.connect(self.address).await
    }

    fn give_back_tcp(&self, stream: Connection, dialled: Instant) {
        self.give_back(&self.tcp, stream, dialled);
    }

    fn io_error(
        &self,
        op: &str,
        network: &str,
        socket: &ReadableUdp,
        error: std::io::Error,
    ) -> ExchangeError {
        let local = socket
            .get_ref()
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        ExchangeError(format!(
            "{op} {network} {local}->{}: {op}: {}",
            self.address,
            go_errno_text(&error)
        ))
    }

    fn timeout_error(&self, network: &str, socket: &ReadableUdp) -> ExchangeError {
        let local = socket
            .get_ref()
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        ExchangeError(format!(
            "read {network} {local}->{}: i/o timeout",
            self.address
        ))
    }

    /// Starts health checking after a failure, unless it already runs.
    pub(super) fn start_health_check(self: &std::sync::Arc<Self>, probe: HealthProbe) {
        if self.checking.swap(true, Ordering::SeqCst) {
            return;
        }
        let upstream = self.clone();
        tokio::spawn(async move {
            loop {
                if upstream.probe(&probe).await {
                    upstream.fails.store(0, Ordering::Relaxed);
                    break;
                }
                upstream.fails.fetch_add(1, Ordering::Relaxed);
                upstream.metrics.healthcheck_failures.inc();
                tokio::time::sleep(probe.interval).await;
            }
            upstream.checking.store(false, Ordering::SeqCst);
        });
    }

    /// One `. IN NS` probe: any reply counts as healthy.
    async fn probe(&self, probe: &HealthProbe) -> bool {
        let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = probe.recursion;
        query.add_query(Query::query(probe.domain.clone(), RecordType::NS));
        let id = query.metadata.id;
        self.exchange(
            &query,
            None,
            id,
            probe.transport,
            512,
            Duration::from_secs(1),
            false,
        )
        .await
        .is_ok()
    }
}

enum TcpFailure {
    Timeout,
    Io(std::io::Error),
}

async fn tcp_round_trip(
    stream: &mut Connection,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, TcpFailure> {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    let exchange = async {
        stream.write_all(&framed).await?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await?;
        let mut reply = vec![0u8; u16::from_be_bytes(length) as usize];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(TcpFailure::Timeout),
        Ok(Err(e)) => Err(TcpFailure::Io(e)),
        Ok(Ok(reply)) => Ok(reply),
    }
}

/// The client's query bytes to relay, with the AD bit as the chain left it
/// (cache asks upstream for AD on a miss).
fn relayed(raw: &[u8], authentic_data: bool) -> Vec<u8> {
    const AD: u8 = 0x20;
    let mut bytes = raw.to_vec();
    if authentic_data {
        bytes[3] |= AD;
    } else {
        bytes[3] &= !AD;
    }
    bytes
}

/// The first `length` bytes of `reply` as an undecoded answer to `query`,
/// when the walk understands them and they fit the client in place.
fn passed_on(sent: &[u8], reply: &mut Vec<u8>, query: &Message) -> Option<Answer> {
    let scan = undecoded::scan(sent, reply)?;
    let client_edns = query
        .edns
        .as_ref()
        .map(|e| (e.max_payload(), e.flags().dnssec_ok));
    let size = reply.len();
    let mut bytes = std::mem::take(reply);
    if !undecoded::fit(&mut bytes, &scan, query.metadata.id, client_edns) {
        bytes.resize(size, 0);
        *reply = bytes;
        return None;
    }
    Some(Answer {
        msg: header_reply(&bytes[..12], query),
        undecoded: Some(Undecoded {
            bytes,
            uncompressed_len: scan.uncompressed_len,
        }),
    })
}

/// A reply to `query` with the upstream header's flags and rcode and no
/// sections: CoreDNS's answer to an oversized UDP reply (with the question
/// and TC set), and the summary of an undecoded one.
fn header_reply(header: &[u8], query: &Message) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    reply.metadata.authoritative = flags & 0x0400 != 0;
    reply.metadata.recursion_desired = flags & 0x0100 != 0;
    reply.metadata.recursion_available = flags & 0x0080 != 0;
    reply.metadata.authentic_data = flags & 0x0020 != 0;
    reply.metadata.checking_disabled = flags & 0x0010 != 0;
    reply.metadata.response_code =
        hickory_proto::op::ResponseCode::from_low((flags & 0x000F) as u8);
    reply.metadata.truncation = flags & 0x0200 != 0;
    reply
}

/// Whether the question of `reply` (bytes, maybe cut short) is the one of
/// the query `sent`: compared byte for byte when both are plain, else
/// decoded. A reply with no question, or another one, is false.
fn question_matches(sent: &[u8], reply: &[u8]) -> bool {
    if undecoded::same_question(sent, reply).is_some() {
        return true;
    }
    let question = |message: &[u8]| {
        let count = u16::from_be_bytes([*message.get(4)?, *message.get(5)?]);
        let mut decoder = BinDecoder::new(message.get(12..)?);
        (count == 1)
            .then(|| Query::read(&mut decoder).ok())
            .flatten()
    };
    match (question(sent), question(reply)) {
        (Some(q), Some(r)) => {
            q.query_type() == r.query_type()
                && q.query_class() == r.query_class()
                && same_name(q.name(), r.name())
        }
        _ => false,
    }
}

/// The reply's question is the query's (the name compared case-insensitively).
pub(super) fn same_question(query: &Message, reply: &Message) -> bool {
    match (query.queries.first(), reply.queries.first()) {
        (Some(q), Some(r)) => {
            q.query_type() == r.query_type()
                && q.query_class() == r.query_class()
                && same_name(q.name(), r.name())
        }
        (None, None) => true,
        _ => false,
    }
}

/// Label by label, ignoring ASCII case (and whether either is fully
/// qualified, as `Name::eq_ignore_root` does). Why not that: it compares
/// from the last label with per-label case folding, several times the cost
/// of this on every forwarded reply.
fn same_name(a: &Name, b: &Name) -> bool {
    a.num_labels() == b.num_labels()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// An OS error as Go's `syscall.Errno` prints it (`connection refused`),
/// so the `errors` plugin's lines read as CoreDNS's; other errors as they are.
fn go_errno_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let Some(bare) = error
        .raw_os_error()
        .and_then(|code| text.strip_suffix(&format!(" (os error {code})")))
    else {
        return text;
    };
    let mut chars = bare.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::{relayed, same_name};
    use hickory_proto::rr::Name;

    #[test]
    fn names_match_label_by_label_whatever_the_case() {
        let name = |text: &str| Name::from_ascii(text).unwrap();
        assert!(same_name(
            &name("WwW.Example.org."),
            &name("www.example.ORG.")
        ));
        assert!(same_name(&name("a.b"), &name("a.b.")), "root ignored");
        assert!(!same_name(&name("a.b."), &name("a.c.")));
        assert!(!same_name(&name("a.b."), &name("x.a.b.")));
        assert!(!same_name(&name("ab."), &name("a.b.")));
    }

    #[test]
    fn relayed_bytes_are_the_clients_with_the_chains_ad_bit() {
        let query: Vec<u8> = vec![
            0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'A', 0, 0, 1, 0, 1,
        ];
        let cleared = relayed(&query, false);
        assert_eq!(cleared[3], 0x00, "AD off");
        let set = relayed(&query, true);
        assert_eq!(set[3], 0x20, "AD on");
        assert_eq!(cleared[..3], query[..3]);
        assert_eq!(cleared[4..], query[4..], "the rest as the client sent it");
    }
}
