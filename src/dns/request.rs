//! One query as it travels down the plugin chain, the reply written into
//! it, and the flow that carries it back.
//!
//! Why `Flow` instead of `async fn`: most queries (cluster names, cache hits)
//! are answered without waiting for anything. `Flow::Done` carries such an
//! answer back synchronously, so the listener writes it inline with no task
//! spawned and no future boxed. Only a plugin that must wait (forward) returns
//! `Flow::Pending`, a `'static` future the listener spawns.
//!
//! `Request`, `Flow` and `Upstream` refer to each other (a request carries
//! the handle that resolves a request into a flow of requests), so they
//! share this file.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

pub(crate) use super::proto::Proto;
use super::status::Status;
use super::wire::reply_to;

/// How deep a query may be sent back through the server from inside it.
const MAX_INTERNAL_DEPTH: u8 = 8;

/// Where a query arrived: the listener and the server block that took it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `dns://:53` or `dns://127.0.0.1:53`, the `server` metrics label.
    pub server: Arc<str>,
    /// The keys of the server block that handles the query (lower-case FQDNs).
    pub block_zones: Arc<[String]>,
}

/// A reply some plugin wrote.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The reply; with `undecoded`, only its header.
    pub msg: Message,
    /// The plugin that wrote it (`plugin` label of `coredns_dns_responses_total`).
    pub plugin: &'static str,
    /// An upstream reply passed on as received (see [`Request::undecoded_ok`]).
    pub undecoded: Option<Undecoded>,
}

/// A reply's bytes as they go to the client, never decoded.
#[derive(Debug, Clone)]
pub struct Undecoded {
    pub bytes: Vec<u8>,
    /// Its length with every name written out (what the metrics count).
    pub uncompressed_len: usize,
}

impl Reply {
    /// The reply's length with every name written out in full.
    pub fn uncompressed_len(&self) -> usize {
        match &self.undecoded {
            Some(undecoded) => undecoded.uncompressed_len,
            None => super::wire::uncompressed_len(&self.msg),
        }
    }
}

/// A query in flight.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: Message,
    /// The length of the query as received.
    pub size: usize,
    pub src: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
    pub origin: Origin,
    /// The question name in lower case, fully qualified (`a.b.`).
    pub qname_lower: String,
    pub reply: Option<Reply>,
    pub received: Instant,
    /// How many times this query was sent back through the server (an
    /// ExternalName target, autopath); bounded to stop loops.
    pub depth: u8,
    /// The server this query entered, for plugins that send a name through
    /// it again (an ExternalName target); set by the listener.
    pub upstream: Option<Upstream>,
    /// Set by a plugin whose written reply depends only on the query bytes,
    /// its published data and the clock, so it may be remembered
    /// (the listener's memo of remembered replies) on these terms.
    pub memo: Option<super::memo::MemoTerms>,
    /// The query as received, kept when the chain may forward it: forward
    /// relays these bytes (under its own ID) instead of encoding `msg`
    /// again. Only the AD bit of `msg` may differ from them (cache sets it
    /// on a miss); forward copies that bit over.
    pub raw: Option<Arc<[u8]>>,
    /// Whether an upstream reply may be passed on without decoding it: set
    /// by the listener when no plugin in front of `forward` reads more of a
    /// reply than its rcode and size (`Chain::relays_undecoded`).
    pub undecoded_ok: bool,
}

impl Request {
    /// A query as it enters a chain; `qname_lower` is `lower_fqdn` of its
    /// question name, which the caller has already computed to route it.
    pub fn new(
        msg: Message,
        qname_lower: String,
        size: usize,
        src: SocketAddr,
        local: SocketAddr,
        proto: Proto,
        origin: Origin,
    ) -> Self {
        Request {
            msg,
            size,
            src,
            local,
            proto,
            origin,
            qname_lower,
            reply: None,
            received: Instant::now(),
            depth: 0,
            upstream: None,
            memo: None,
            raw: None,
            undecoded_ok: false,
        }
    }

    pub fn qname(&self) -> &Name {
        self.msg.queries[0].name()
    }

    pub fn qtype(&self) -> RecordType {
        self.msg.queries[0].query_type()
    }

    pub fn qclass(&self) -> DNSClass {
        self.msg.queries[0].query_class()
    }

    /// The EDNS DO bit of the query.
    pub fn do_bit(&self) -> bool {
        self.msg.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
    }

    /// The client's buffer size as CoreDNS normalises it: 512 without EDNS or
    /// below 512, the EDNS size otherwise; 65535 over TCP.
    pub fn bufsize(&self) -> u16 {
        if self.proto == Proto::Tcp {
            return u16::MAX;
        }
        match &self.msg.edns {
            Some(edns) if edns.max_payload() >= 512 => edns.max_payload(),
            _ => 512,
        }
    }

    /// Writes a reply (CoreDNS's `w.WriteMsg`). Returns the status to hand up.
    pub fn write(&mut self, msg: Message, plugin: &'static str) -> Status {
        let rcode = msg.metadata.response_code;
        self.reply = Some(Reply {
            msg,
            plugin,
            undecoded: None,
        });
        Status::written(rcode)
    }

    /// Writes an upstream reply passed on undecoded; `header` holds its
    /// header.
    pub fn write_undecoded(
        &mut self,
        header: Message,
        undecoded: Undecoded,
        plugin: &'static str,
    ) -> Status {
        let rcode = header.metadata.response_code;
        self.reply = Some(Reply {
            msg: header,
            plugin,
            undecoded: Some(undecoded),
        });
        Status::written(rcode)
    }

    /// A query for `name` from the same client, one level deeper, to send
    /// through [`Upstream`] (an ExternalName's target, a templated CNAME's);
    /// `None` past the depth bound, which stops loops of such names.
    pub fn internal(&self, name: Name, qtype: RecordType) -> Option<Request> {
        if self.depth >= MAX_INTERNAL_DEPTH {
            return None;
        }
        let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        let qname_lower = super::names::lower_fqdn(&name);
        let mut query = Query::query(name, qtype);
        query.set_query_class(DNSClass::IN);
        msg.add_query(query);
        msg.edns = self.msg.edns.clone();
        let mut sub = Request::new(
            msg,
            qname_lower,
            self.size,
            self.src,
            self.local,
            self.proto,
            self.origin.clone(),
        );
        sub.depth = self.depth + 1;
        sub.upstream = self.upstream.clone();
        Some(sub)
    }

    /// Sends a query for `name` back through the server, one level deeper
    /// (CoreDNS's `upstream.Lookup`); `None` past the depth bound, without
    /// an [`Upstream`], or when no zone takes the name.
    pub fn lookup(&self, name: Name, qtype: RecordType) -> Option<Flow> {
        let sub = self.internal(name, qtype)?;
        self.upstream.as_ref()?.resolve(sub)
    }

    /// A reply skeleton for this query (miekg's `SetReply`): same ID and
    /// opcode, QR set, RD and CD copied, the question copied.
    pub fn reply_skeleton(&self) -> Message {
        reply_to(&self.msg, ResponseCode::NoError)
    }
}

/// What a plugin's `serve` produced: the request (with any reply written
/// into it) and the chain's status.
pub struct Exchange {
    pub req: Request,
    pub status: Status,
}

/// A future that finishes an exchange.
pub(crate) type PendingExchange = Pin<Box<dyn Future<Output = Exchange> + Send + 'static>>;

/// The result of handing a request to a plugin.
///
/// `Done` is large (it carries the request) on purpose: boxing it would put
/// an allocation on every locally answered query.
#[allow(clippy::large_enum_variant)]
pub enum Flow {
    Done(Exchange),
    Pending(PendingExchange),
}

impl Flow {
    pub fn done(req: Request, status: Status) -> Self {
        Flow::Done(Exchange { req, status })
    }

    /// Runs `after` on the exchange once it is finished, inline when it is
    /// already finished.
    pub fn map(self, after: impl FnOnce(Exchange) -> Exchange + Send + 'static) -> Flow {
        match self {
            Flow::Done(exchange) => Flow::Done(after(exchange)),
            Flow::Pending(future) => Flow::Pending(Box::pin(async move { after(future.await) })),
        }
    }

    /// Continues with another flow once this one is finished.
    pub fn then(self, after: impl FnOnce(Exchange) -> Flow + Send + 'static) -> Flow {
        match self {
            Flow::Done(exchange) => after(exchange),
            Flow::Pending(future) => {
                Flow::Pending(Box::pin(async move { after(future.await).wait().await }))
            }
        }
    }

    /// Waits for the exchange.
    pub async fn wait(self) -> Exchange {
        match self {
            Flow::Done(exchange) => exchange,
            Flow::Pending(future) => future.await,
        }
    }
}

/// "Resolve this query through the server I belong to": CoreDNS's
/// `plugin/pkg/upstream`. The listener hands every request this handle, so
/// a plugin can send a name back through the whole server (routing, every
/// chain) without knowing the server.
#[derive(Clone)]
pub struct Upstream(Arc<dyn Reentry>);

/// What the server implements behind an [`Upstream`].
pub trait Reentry: Send + Sync + 'static {
    /// Routes `req` by its name and runs the chain of the zone it falls
    /// in; `None` when no zone takes it.
    fn resolve(&self, req: Request) -> Option<Flow>;
}

impl Upstream {
    pub fn new(server: Arc<dyn Reentry>) -> Self {
        Upstream(server)
    }

    /// Sends `req` through the server; `None` when no zone takes it.
    pub fn resolve(&self, req: Request) -> Option<Flow> {
        self.0.resolve(req)
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream")
    }
}
